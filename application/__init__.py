"""Use cases of the bank, one per operation of docs/api.md. Imports only ``domain``."""
