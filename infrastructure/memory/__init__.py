"""The in-memory adapter: the same semantics as PostgreSQL, without a server (unit tests)."""
