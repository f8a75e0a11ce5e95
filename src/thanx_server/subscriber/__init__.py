"""Marketing subscribers (POST /partner/subscribers)."""
