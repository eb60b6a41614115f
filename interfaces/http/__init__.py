"""The HTTP API v1 of docs/api.md."""
