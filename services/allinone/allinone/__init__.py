"""The all-in-one composition root: every service in one process on embedded adapters."""
