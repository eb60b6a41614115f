"""Reading PostgreSQL's plan of a repository's own query, for the tests that prove a
list is served by an index."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement


async def plan_nodes(engine: AsyncEngine, query: ClauseElement) -> list[dict[str, Any]]:
    """Every node of ``EXPLAIN (ANALYZE)`` of ``query``, rendered with its values."""
    rendered = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    async with engine.connect() as connection:
        explained = (
            await connection.execute(text(f"EXPLAIN (FORMAT JSON, ANALYZE) {rendered}"))
        ).scalar_one()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    return _flattened(plan)


def reads_of(nodes: list[dict[str, Any]], table: str) -> list[str]:
    """How each node reading ``table`` (or one of its ``ix_<table>_*`` indexes) reads it:
    node type and index, sorted."""
    return sorted(
        f"{node['Node Type']}:{node.get('Index Name', '')}"
        for node in nodes
        if node.get("Relation Name") == table or f"ix_{table}" in node.get("Index Name", "")
    )


def _flattened(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _flattened(child)
    return found
