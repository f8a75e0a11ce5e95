"""Operator credentials: who steers the whole sandbox (issue 13) and the console.

Created, listed and revoked from the command line (``thanx-server admin operator ...``) and by
the demo data; authenticated by ``OperatorAuth`` / ``SandboxAuth`` (auth/dependencies.py).
"""
