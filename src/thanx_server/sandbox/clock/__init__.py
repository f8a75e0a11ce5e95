"""The sandbox clock (issue 13): one clock for the instance, kept in the database.

``kit/clock.py`` is what the rules read (``business_now()``); this package moves it: read,
freeze, set, advance, resume. Moving it forward runs what fell due (``due.py``), in time order,
before the control answers.
"""
