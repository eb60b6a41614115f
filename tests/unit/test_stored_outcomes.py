"""Outcomes stored under an idempotency key by an older release replay with the
fields added since, at the values they had then (no holds, no limits, no metadata)."""

from __future__ import annotations

from application.views import AccountView, TransferView

ACCOUNT_BEFORE_HOLDS = {
    "id": "00000000-0000-0000-0000-000000000001",
    "currency": "USD",
    "balance": 250,
    "status": "active",
    "reference": None,
    "created_at": "2026-01-01T00:00:00.000000Z",
    "version": 3,
}
TRANSFER_BEFORE_HOLDS = {
    "id": "00000000-0000-0000-0000-000000000002",
    "kind": "transfer",
    "source_account_id": "00000000-0000-0000-0000-000000000001",
    "destination_account_id": "00000000-0000-0000-0000-000000000003",
    "amount": 5,
    "currency": "USD",
    "description": None,
    "status": "posted",
    "source_balance_after": 245,
    "destination_balance_after": None,
    "created_at": "2026-01-01T00:00:00.000000Z",
}


def test_an_account_stored_before_holds_replays_with_nothing_held() -> None:
    replayed = AccountView.from_json(ACCOUNT_BEFORE_HOLDS).to_json()

    assert replayed == ACCOUNT_BEFORE_HOLDS | {
        "held": 0,
        "available": 250,
        "overdraft_limit": 0,
        "metadata": {},
    }


def test_a_transfer_stored_before_holds_replays_without_hold_batch_or_metadata() -> None:
    replayed = TransferView.from_json(TRANSFER_BEFORE_HOLDS).to_json()

    assert replayed == TRANSFER_BEFORE_HOLDS | {"hold_id": None, "batch_id": None, "metadata": {}}
