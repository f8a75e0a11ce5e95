"""The business clock of webhooks: when events happen and when deliveries fall due.

One function, so that switching to the sandbox clock (issue 13) is one line. Leases are not
business time: they use the wall clock (``kit.time.utcnow``) because they bound real processes.
"""

from __future__ import annotations

from datetime import datetime

from thanx_server.kit.time import utcnow


def business_now() -> datetime:
    return utcnow()
