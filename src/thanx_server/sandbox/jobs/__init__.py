"""Deterministic job progression (issue 13, item 3): per credential or per job, ``immediate``,
``paused``, ``step``, ``after_polls: N`` or ``delay`` on the sandbox clock."""
