"""For Python partners: a pytest plugin that points a test suite at a sandbox (issue 13, item 6).

``pytest_plugin.py`` is registered as the ``thanx_sandbox`` pytest plugin when the package is
installed; ``sandbox.py`` is the small synchronous client its fixtures hand out. Nothing here
imports the server: it talks to a sandbox over HTTP, like a partner's code does.
"""
