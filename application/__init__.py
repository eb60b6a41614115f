"""Use cases of the bank, one per operation of API.md. Imports only ``domain``."""
