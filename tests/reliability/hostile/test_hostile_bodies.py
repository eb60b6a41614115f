"""Hostile bodies against the app in this process: oversized, deeply nested and
ambiguous JSON are refused with a problem, quickly, without reading an oversized
body to its end and without touching any balance; HEAD answers like GET without a body.

(A client that trickles its body over a real socket: ``test_slow_clients.py``.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_problem
from tests.reliability.hostile.conftest import InProcess

pytestmark = pytest.mark.reliability

LIMIT = 64 * 1024  # docs/api.md: "bodies over 64 KiB"
TEN_MB = 10 * 1024 * 1024
CHUNK = 64 * 1024


class Upload:
    """A streamed body of ``size`` bytes that counts how much of it the server pulled."""

    def __init__(self, size: int, chunk: int = CHUNK) -> None:
        self.size = size
        self.chunk = chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.size:
            piece = b" " * min(self.chunk, self.size - self.sent)
            self.sent += len(piece)
            yield piece


async def funded(bank: InProcess, amount: int = 1_000) -> str:
    opened = await bank.http.post("/v1/accounts", json={"currency": "USD"}, headers=bank.client)
    account: str = opened.json()["id"]
    if not amount:
        return account
    deposit = {"amount": amount, "currency": "USD"}
    funding = await bank.http.post(
        f"/v1/accounts/{account}/deposits", json=deposit, headers=bank.client
    )
    assert funding.status_code == 201, funding.text
    return account


async def statement(bank: InProcess, account: str) -> tuple[Any, Any]:
    read = await bank.http.get(f"/v1/accounts/{account}", headers=bank.client)
    entries = await bank.http.get(f"/v1/accounts/{account}/entries", headers=bank.client)
    return read.json(), entries.json()


async def test_a_10_mb_body_with_its_length_declared_is_refused_before_a_byte_is_read(
    in_process: InProcess,
) -> None:
    account = await funded(in_process)
    before = await statement(in_process, account)
    upload = Upload(TEN_MB)

    started = time.perf_counter()
    response = await in_process.http.post(
        f"/v1/accounts/{account}/deposits",
        content=upload,
        headers={**in_process.client, "Content-Length": str(TEN_MB)},
    )

    assert time.perf_counter() - started < 1
    assert_problem(response, 413, "payload_too_large")
    assert upload.sent == 0
    assert await statement(in_process, account) == before


async def test_a_10_mb_body_of_unknown_length_is_refused_once_it_passes_the_limit(
    in_process: InProcess,
) -> None:
    account = await funded(in_process)
    before = await statement(in_process, account)
    upload = Upload(TEN_MB)  # httpx sends an iterator without Content-Length: chunked

    started = time.perf_counter()
    response = await in_process.http.post(
        f"/v1/accounts/{account}/deposits", content=upload, headers=in_process.client
    )

    assert time.perf_counter() - started < 1
    assert_problem(response, 413, "payload_too_large")
    assert upload.sent <= LIMIT + CHUNK  # read just past the limit, never to the end
    assert await statement(in_process, account) == before


async def test_the_limit_is_64_kib_exactly(in_process: InProcess) -> None:
    account = await funded(in_process)
    body = json.dumps({"amount": 1, "currency": "USD"}).encode()
    at_limit = body + b" " * (LIMIT - len(body))  # white space is valid JSON padding
    url = f"/v1/accounts/{account}/deposits"

    accepted = await in_process.http.post(url, content=at_limit, headers=in_process.client)
    refused = await in_process.http.post(url, content=at_limit + b" ", headers=in_process.client)

    assert accepted.status_code == 201, accepted.text
    assert_problem(refused, 413, "payload_too_large")


NESTED = {
    "100k [ (over the limit)": b"[" * 100_000,
    "60k [": b"[" * 60_000,
    "30k balanced arrays": b"[" * 30_000 + b"]" * 30_000,
    "20k objects": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "nested in amount": b'{"amount": ' + b"[" * 30_000 + b"]" * 30_000 + b', "currency": "USD"}',
}


@pytest.mark.parametrize("body", NESTED.values(), ids=NESTED.keys())
async def test_deeply_nested_json_is_a_4xx_problem(in_process: InProcess, body: bytes) -> None:
    account = await funded(in_process)
    before = await statement(in_process, account)

    response = await in_process.http.post(
        f"/v1/accounts/{account}/deposits", content=body, headers=in_process.client
    )

    if len(body) > LIMIT:
        assert_problem(response, 413, "payload_too_large")
    else:
        assert_problem(response, 422, "validation_error")
    assert await statement(in_process, account) == before


AMBIGUOUS = {
    # Parsers disagree on which duplicate wins: a gateway could check one amount and
    # the service post the other.
    "duplicate amount": b'{"amount": 1, "amount": 900, "currency": "USD"}',
    "duplicate in transfer": b'{"amount": 1, "currency": "USD", "currency": "JPY"}',
    "UTF-8 byte order mark": b'\xef\xbb\xbf{"amount": 1, "currency": "USD"}',
    "UTF-16": '{"amount": 1, "currency": "USD"}'.encode("utf-16"),
    "NaN": b'{"amount": NaN, "currency": "USD"}',
    "-Infinity": b'{"amount": -Infinity, "currency": "USD"}',
    "5000-digit amount": b'{"amount": 1' + b"0" * 5_000 + b', "currency": "USD"}',
    "amount 1e999999": b'{"amount": 1e999999, "currency": "USD"}',
}


@pytest.mark.parametrize("body", AMBIGUOUS.values(), ids=AMBIGUOUS.keys())
async def test_json_that_is_ambiguous_or_not_utf8_is_refused(
    in_process: InProcess, body: bytes
) -> None:
    account = await funded(in_process)
    before = await statement(in_process, account)

    response = await in_process.http.post(
        f"/v1/accounts/{account}/deposits", content=body, headers=in_process.client
    )

    assert_problem(response, 422, "validation_error")
    assert await statement(in_process, account) == before


async def test_refused_bodies_leave_concurrent_requests_unharmed(in_process: InProcess) -> None:
    account = await funded(in_process, amount=0)
    url = f"/v1/accounts/{account}/deposits"
    hostile = [
        in_process.http.post(url, content=Upload(TEN_MB), headers=in_process.client),
        in_process.http.post(url, content=NESTED["60k ["], headers=in_process.client),
        in_process.http.post(url, content=AMBIGUOUS["duplicate amount"], headers=in_process.client),
    ] * 5
    honest = [
        in_process.http.post(url, json={"amount": 1, "currency": "USD"}, headers=in_process.client)
        for _ in range(30)
    ]

    responses = await asyncio.gather(*hostile, *honest)

    assert sorted(r.status_code for r in responses[: len(hostile)]) == [413] * 5 + [422] * 10
    assert all(r.status_code == 201 for r in responses[len(hostile) :])
    account_now, entries = await statement(in_process, account)
    assert account_now["balance"] == 30
    assert len(entries["data"]) == 30


async def test_head_answers_like_get_without_a_body(in_process: InProcess) -> None:
    account = await funded(in_process)
    transfer = (
        await in_process.http.get(f"/v1/accounts/{account}/entries", headers=in_process.client)
    ).json()["data"][0]["transfer_id"]
    for path in [
        "/v1/accounts",
        f"/v1/accounts/{account}",
        f"/v1/accounts/{account}/entries",
        f"/v1/transfers/{transfer}",
        "/v1/accounts/00000000-0000-4000-8000-000000000000",
    ]:
        get = await in_process.http.get(path, headers=in_process.client)
        head = await in_process.http.head(path, headers=in_process.client)
        assert head.status_code == get.status_code, path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert head.content == b"", path
        anonymous = await in_process.http.head(path)
        assert anonymous.status_code == 401, path


async def test_an_api_key_is_never_echoed_by_a_refusal(in_process: InProcess) -> None:
    """Refusals describe the body, never the credentials or the input they refused."""
    key = in_process.client["Authorization"].removeprefix("Bearer ")
    account = await funded(in_process)
    responses: list[httpx.Response] = [
        await in_process.http.post(
            f"/v1/accounts/{account}/deposits", content=body, headers=in_process.client
        )
        for body in (*NESTED.values(), *AMBIGUOUS.values())
    ]
    for response in responses:
        assert key not in response.text
        assert "[[[" not in response.text
