"""Tags: key -> values attached to a member of a merchant (GET/PUT/DELETE /partner/tags)."""
