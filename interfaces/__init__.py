"""The edges of the bank: the HTTP API, the command line and the composition root."""
