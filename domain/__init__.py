"""The bank's model: money, accounts, transfers and the ports that persist them.

Imports nothing but the standard library (checked by import-linter and a unit test).
"""
