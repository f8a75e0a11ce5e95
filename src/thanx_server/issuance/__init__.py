"""Reward issuance: POST /partner/campaigns/issue, /partner/issuance_jobs/*, and the worker."""
