"""Reset, snapshots and the baseline (issue 13, item 1): the instance's data as JSON, put back
exactly (same ids), for everything or one merchant."""
