"""``GET /metrics``: Prometheus exposition of every process's instruments (kit/metrics.py) and of
what the database knows at scrape time (issuance jobs by state, the oldest waiting job)."""
