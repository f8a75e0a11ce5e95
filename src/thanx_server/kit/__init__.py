"""Shared machinery: database, errors, auth, pagination, logging. No feature rules live here."""
