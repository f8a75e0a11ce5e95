"""Purchases reported by partners (POST /purchases, alias /partner/purchases)."""
