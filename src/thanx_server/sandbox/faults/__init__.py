"""Fault rules (issue 13, item 4): answer chosen calls with an error in the contract's envelope
(429 with ``Retry-After`` included), add latency, or drop the connection; deterministic."""
