"""Small generated images served by the server itself (``/static/images/...``), so demo data and
sandbox fixtures carry image URLs that resolve without any outside host."""
