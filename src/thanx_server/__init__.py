"""thanx-server: a self-hostable implementation of the Thanx Partner API."""

__version__ = "0.1.0"
