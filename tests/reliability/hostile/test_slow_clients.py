"""Slow and oversized uploads over real sockets, against ``banking serve`` (one worker):
clients that trickle their headers or body hold no worker and no database connection
while they wait, so every other request is served as usual; a body still incomplete
after the read timeout is answered 408 and its connection closed; an oversized body is
answered 413 as soon as the server knows, not after it has arrived."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.helpers import ADMIN, ADMIN_TOKEN, Headers
from tests.e2e.processes import Server, serving
from tests.postgres_fixtures import PgTargets

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]

SLOW_BODIES = 30
SLOW_HEADERS = 10
TRICKLE_SECONDS = 0.1  # between two bytes of a slow client
HONEST = 60
HONEST_CEILING_SECONDS = 2.0  # generous for 2 shared cores; a blocked worker takes >3 s
READ_TIMEOUT = 2.0  # BANKING_BODY_READ_TIMEOUT of the server the tricklers outlast


@pytest.fixture
def read_timeout() -> float:
    """Long enough for the slow clients that do finish their body (test below)."""
    return 60.0


@pytest.fixture
def server(
    pg_targets: PgTargets, env: dict[str, str], workdir: Path, read_timeout: float
) -> Iterator[Server]:
    with pg_targets.database("primary") as url:
        configured = {
            **env,
            "BANKING_DATABASE_URL": url,
            "BANKING_ADMIN_TOKEN": ADMIN_TOKEN,
            "BANKING_BODY_READ_TIMEOUT": str(read_timeout),
        }
        with serving(configured, workdir) as server:
            yield server


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        yield client


async def tenant_with_account(http: httpx.AsyncClient) -> tuple[Headers, str]:
    created = await http.post("/v1/admin/clients", json={"name": "slow"}, headers=ADMIN)
    headers = {"Authorization": f"Bearer {created.json()['api_key']}"}
    opened = await http.post("/v1/accounts", json={"currency": "USD"}, headers=headers)
    return headers, opened.json()["id"]


class RawConnection:
    """One TCP connection to the server, written to by hand."""

    def __init__(self, base: str) -> None:
        address = urlsplit(base)
        self.host, self.port = address.hostname or "127.0.0.1", address.port or 80

    async def __aenter__(self) -> RawConnection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):  # the server may have closed it first
            await self.writer.wait_closed()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def trickle(self, data: bytes) -> None:
        for index in range(len(data)):
            await self.send(data[index : index + 1])
            await asyncio.sleep(TRICKLE_SECONDS)

    async def response(self, within: float) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the (non-chunked) response."""
        async with asyncio.timeout(within):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines if line)
            }
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body


def request_head(method: str, path: str, headers: Headers, **extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bank.test"]
    lines += [f"{name}: {value}" for name, value in {**headers, **extra}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_slow_clients_do_not_hold_up_anybody_else(
    server: Server, http: httpx.AsyncClient
) -> None:
    headers, account = await tenant_with_account(http)
    deposit = json.dumps({"amount": 1, "currency": "USD"}).encode()

    released = asyncio.Event()  # set once every honest request has been answered

    async def slow_body() -> int:
        head = request_head(
            "POST",
            f"/v1/accounts/{account}/deposits",
            headers,
            **{"Content-Type": "application/json", "Content-Length": str(len(deposit))},
        )
        async with RawConnection(server.base) as connection:
            await connection.send(head)
            await connection.trickle(deposit[:10])
            await released.wait()
            await connection.trickle(deposit[10:])
            status, _, _ = await connection.response(within=30)
            return status

    async def slow_headers() -> int:
        head = request_head("GET", f"/v1/accounts/{account}", headers)
        async with RawConnection(server.base) as connection:
            await connection.trickle(head[:20])
            await released.wait()
            await connection.send(head[20:])
            status, _, _ = await connection.response(within=30)
            return status

    slow = [asyncio.create_task(slow_body()) for _ in range(SLOW_BODIES)]
    slow += [asyncio.create_task(slow_headers()) for _ in range(SLOW_HEADERS)]
    await asyncio.sleep(0.5)  # every slow client is connected and mid-request

    latencies = []
    for number in range(HONEST):
        started = time.perf_counter()
        if number % 2:
            response = await http.get(f"/v1/accounts/{account}", headers=headers)
            assert response.status_code == 200, response.text
        else:
            response = await http.post(
                f"/v1/accounts/{account}/deposits",
                json={"amount": 100, "currency": "USD"},
                headers=headers,
            )
            assert response.status_code == 201, response.text
        latencies.append(time.perf_counter() - started)
    unanswered = sum(not task.done() for task in slow)
    released.set()
    statuses = await asyncio.gather(*slow)

    assert unanswered == len(slow)  # they were all mid-request the whole time
    assert max(latencies) < HONEST_CEILING_SECONDS, sorted(latencies)[-5:]
    assert statuses == [201] * SLOW_BODIES + [200] * SLOW_HEADERS
    final = await http.get(f"/v1/accounts/{account}", headers=headers)
    assert final.json()["balance"] == (HONEST // 2) * 100 + SLOW_BODIES


@pytest.mark.parametrize("read_timeout", [READ_TIMEOUT])
async def test_tricklers_get_408_and_lose_their_connection_while_others_are_served(
    server: Server, http: httpx.AsyncClient
) -> None:
    headers, account = await tenant_with_account(http)
    deposit = json.dumps({"amount": 1, "currency": "USD"}).encode()
    path = f"/v1/accounts/{account}/deposits"

    async def trickler() -> tuple[int, str, float, bytes]:
        """Sends a byte every TRICKLE_SECONDS, forever; the server's answer ends it."""
        head = request_head(
            "POST",
            path,
            headers,
            **{"Content-Type": "application/json", "Content-Length": str(len(deposit))},
        )
        async with RawConnection(server.base) as connection:
            started = time.perf_counter()
            await connection.send(head)

            async def forever() -> None:
                with contextlib.suppress(ConnectionError):
                    for byte in range(len(deposit) - 1):  # never the last one
                        await connection.send(deposit[byte : byte + 1])
                        await asyncio.sleep(TRICKLE_SECONDS)
                    await asyncio.sleep(3600)

            sender = asyncio.create_task(forever())
            try:
                status, response_headers, body = await connection.response(within=30)
                assert response_headers["content-type"] == "application/problem+json"
                elapsed = time.perf_counter() - started
                after = await asyncio.wait_for(connection.reader.read(), timeout=5)
            finally:
                sender.cancel()
            return status, json.loads(body)["code"], elapsed, after

    slow = [asyncio.create_task(trickler()) for _ in range(SLOW_BODIES)]
    await asyncio.sleep(0.5)  # every trickler is connected and mid-body

    latencies = []
    for _ in range(HONEST):
        started = time.perf_counter()
        response = await http.post(path, json={"amount": 100, "currency": "USD"}, headers=headers)
        assert response.status_code == 201, response.text
        latencies.append(time.perf_counter() - started)
    results = await asyncio.gather(*slow)

    assert max(latencies) < HONEST_CEILING_SECONDS, sorted(latencies)[-5:]
    for status, code, elapsed, after in results:
        assert (status, code) == (408, "request_timeout")
        assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + HONEST_CEILING_SECONDS
        assert after == b""  # the server closed the connection: nothing more, no hang
    final = await http.get(f"/v1/accounts/{account}", headers=headers)
    assert final.json()["balance"] == HONEST * 100  # no trickler posted anything


async def test_a_10_mb_upload_is_answered_413_before_it_is_sent(
    server: Server, http: httpx.AsyncClient
) -> None:
    headers, account = await tenant_with_account(http)
    path = f"/v1/accounts/{account}/deposits"
    json_type = {"Content-Type": "application/json"}

    # Declared: the answer comes after the headers, with no body sent at all.
    async with RawConnection(server.base) as connection:
        await connection.send(
            request_head("POST", path, headers, **json_type, **{"Content-Length": str(10 << 20)})
        )
        status, response_headers, body = await connection.response(within=5)
    assert status == 413
    assert response_headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "payload_too_large"

    # Chunked: the answer comes once the limit is passed, two chunks of the 160.
    async with RawConnection(server.base) as connection:
        await connection.send(
            request_head("POST", path, headers, **json_type, **{"Transfer-Encoding": "chunked"})
        )
        chunk = b" " * (64 << 10)
        for _ in range(2):
            await connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        status, response_headers, body = await connection.response(within=5)
    assert status == 413
    assert json.loads(body)["code"] == "payload_too_large"

    # The server is unharmed and nothing was posted.
    read = await http.get(f"/v1/accounts/{account}", headers=headers)
    assert (read.status_code, read.json()["balance"]) == (200, 0)
