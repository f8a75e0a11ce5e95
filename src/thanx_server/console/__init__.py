"""The web console (issue 15): server-rendered pages at ``/console`` over the features' services."""
