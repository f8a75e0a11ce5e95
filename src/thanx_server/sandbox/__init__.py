"""The sandbox control plane (issue 13): everything a partner's test suite steers.

Only when ``THANX_ENVIRONMENT=sandbox``; in production every ``/sandbox/...`` route answers 404.
Each control is an HTTP endpoint under ``/sandbox/...`` (OpenAPI tag Sandbox) and a
``thanx-server sandbox ...`` command (cli/sandbox.py), both over the same service function, so a
third front end (the console) can call it too. The state of every control lives in the
database, so several API processes and workers see one sandbox.

Who may do what (``auth/dependencies.py``): an operator credential steers everything; a partner
credential holding the ``sandbox`` scope steers its own merchants and its own requests.
"""
