"""`make bench`: the service against the raw-database ceiling, in one run (see README.md)."""
