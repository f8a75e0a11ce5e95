"""Promotions and their single-use codes (reference B.11): /partner/promotions(...)."""
