"""The request journal (issue 13, item 5): every Partner and Consumer API request of a sandbox,
kept for a bounded time and number, bodies capped and secrets redacted; found, counted and
exported as JSON lines."""
