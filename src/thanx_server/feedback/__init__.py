"""Feedback records: list, respond, and (sandbox) play the customer."""
