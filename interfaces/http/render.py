"""Results as docs/api.md's JSON: RFC 3339 UTC timestamps with a Z, ids as strings."""

from __future__ import annotations

from typing import Any

from application.views import (
    AccountView,
    BalanceView,
    BatchView,
    EntryView,
    HoldView,
    NewApiClient,
    NewApiKey,
    PageView,
    Refusal,
    RevokedClient,
    TransferView,
    timestamp,
)
from interfaces.http.problems import problem_body

# One JSON shape per resource: the view's own, which idempotent replays store too.
account = AccountView.to_json
transfer = TransferView.to_json
entry = EntryView.to_json
hold = HoldView.to_json
balance = BalanceView.to_json


def batch(view: BatchView) -> dict[str, Any]:
    """An atomic batch lists its transfers; any other one each item's result: its
    status and the transfer, or its status and the problem that refused it."""
    common = {"id": str(view.id), "atomic": view.atomic}
    tail = {"metadata": view.metadata, "created_at": timestamp(view.created_at)}
    if view.atomic:
        return {**common, "transfers": [t.to_json() for t in view.transfers], **tail}
    results = [_result(outcome) for outcome in view.outcomes]
    return {**common, "results": results, **tail}


def _result(outcome: TransferView | Refusal) -> dict[str, Any]:
    if isinstance(outcome, TransferView):
        return {"status": 201, "transfer": outcome.to_json()}
    error = problem_body(outcome.code, outcome.detail)
    return {"status": error["status"], "error": error}


def page(view: PageView[Any], item: Any) -> dict[str, Any]:
    return {"data": [item(element) for element in view.data], "next_cursor": view.next_cursor}


def new_client(view: NewApiClient) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "name": view.name,
        "api_key": view.api_key,
        "created_at": timestamp(view.created_at),
    }


def new_key(view: NewApiKey) -> dict[str, Any]:
    expires = view.previous_key_expires_at
    return {
        "client_id": str(view.client_id),
        "api_key": view.api_key,
        "created_at": timestamp(view.created_at),
        "previous_key_expires_at": None if expires is None else timestamp(expires),
    }


def revoked_client(view: RevokedClient) -> dict[str, Any]:
    return {"id": str(view.id), "name": view.name, "revoked_at": timestamp(view.revoked_at)}
