"""Webhooks (issue 14): the five Thanx events, signed as Thanx signs them, from an outbox.

* ``events.py``: the event types and their payloads (reference section D), built from real rows;
* ``outbox.py``: ``emit``: the events of a change written in the caller's transaction as one
  outbox row, expanded after commit into events and a delivery row per subscribed endpoint
  (``tasks.dispatch``, set-wise: the queue);
* ``signing.py``: ``X-Thanx-Signature`` (hex HMAC-SHA256 of the exact body) and the optional
  Standard Webhooks headers;
* ``clock.py``: the business clock every webhook instant is read from (one line to switch);
* ``safety.py``: which URLs an endpoint may have (production: HTTPS, no private addresses);
* ``sender.py``: one bounded HTTP attempt (15 s in total, response excerpt capped, no redirects);
* ``tasks.py``: the delivery worker (leased claims, concurrency slots per endpoint, log, retry);
* ``service.py`` / ``repository.py`` / ``endpoints.py`` / ``schemas.py``: self-serve endpoints,
  the delivery log, redeliver, recover, and ``POST /sandbox/webhooks/trigger``.
"""
