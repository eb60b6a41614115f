"""Adapters: storage (in memory, PostgreSQL), transactions with retry, currencies, settings."""
