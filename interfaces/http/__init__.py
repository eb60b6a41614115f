"""The HTTP API v1 of API.md."""
