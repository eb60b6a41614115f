"""Alembic's environment (``env.py``) and revisions (``versions/``), shipped in the wheel.

A package so that an installed ``banking db upgrade`` finds them next to the code, not in
a source checkout; ``infrastructure.postgres.migrate`` locates it by import.
"""
