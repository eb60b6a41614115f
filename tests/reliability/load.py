"""A bounded load of money movements with Idempotency-Keys, sent by clients that retry
every unanswered request with the same key and body, and the check that the books match
exactly what the clients were told.

"Unanswered" is what a careful client cannot tell from a lost request: no response (a
reset, a timeout), a 503 (``service_unavailable``, ``concurrency_conflict``) or a 409
``idempotency_key_in_progress``. Every other response is the answer: 2xx acknowledges the
movement, 4xx refuses it, 500 is a failure the tests report.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from infrastructure.postgres.engine import libpq_url
from infrastructure.postgres.reconciliation import invariants
from tests.api.helpers import assert_no_leak
from tests.e2e.processes import banking
from tests.reliability.control import ADMIN_TOKEN

REQUEST_SECONDS = 15.0  # one attempt: longer than any timeout a test gives the service
# A careful client honours Retry-After; the cap keeps a run short if it ever grows.
RETRY_AFTER_CAP = 2.0
READY_SECONDS = 60.0
CURRENCY = "USD"
FUNDING = 1_000_000
# Far above any balance this load builds: always refused with insufficient_funds.
OVERDRAFT = 10**12
RETRIABLE_CODES = {"service_unavailable", "concurrency_conflict"}
UNPROMISED = "not the retriable problem docs/api.md promises"
Headers = dict[str, str]


@dataclass
class Operation:
    """One money movement and everything its client saw while sending it."""

    kind: str
    key: str
    path: str
    body: dict[str, Any]
    debit: str | None
    credit: str | None
    amount: int
    requests: int = 0
    retry_causes: Counter[str] = field(default_factory=Counter)
    # (status, problem code or transport error, seconds) of every request sent.
    timings: list[tuple[int, str | None, float]] = field(default_factory=list)
    status: int | None = None  # of the answer; None while unanswered
    answer: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False
    seconds: float = 0.0

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status is not None and 400 <= self.status < 500


@dataclass
class Bank:
    """One API client and its funded accounts; ``operations`` funded them."""

    client_id: str
    headers: Headers
    accounts: list[str]
    operations: list[Operation] = field(default_factory=list)


@dataclass
class Read:
    status: int
    code: str | None
    seconds: float


@asynccontextmanager
async def service_client(base: str, connections: int = 64) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the service whose every response is checked for leaks."""
    async with httpx.AsyncClient(
        base_url=base,
        timeout=REQUEST_SECONDS,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        event_hooks={"response": [assert_no_leak]},
    ) as http:
        yield http


async def wait_until_ready(http: httpx.AsyncClient) -> float:
    """Seconds until ``/health/ready`` answers 200 (the test fails after READY_SECONDS)."""
    started = time.monotonic()
    while time.monotonic() - started < READY_SECONDS:
        try:
            if (await http.get("/health/ready", timeout=5)).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"the service was not ready again within {READY_SECONDS}s")


async def open_bank(http: httpx.AsyncClient, accounts: int, seconds: float = 60) -> Bank:
    """A client with ``accounts`` USD accounts of FUNDING each, opened before any fault."""
    made = await http.post(
        "/v1/admin/clients",
        json={"name": "reliability"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert made.status_code == 201, made.text
    bank = Bank(made.json()["id"], {"Authorization": f"Bearer {made.json()['api_key']}"}, [])
    for _ in range(accounts):
        opened = await http.post("/v1/accounts", json={"currency": CURRENCY}, headers=bank.headers)
        assert opened.status_code == 201, opened.text
        bank.accounts.append(opened.json()["id"])
    deadline = time.monotonic() + seconds
    for account in bank.accounts:
        funding = deposit(account, FUNDING)
        bank.operations.append(funding)
        await send(http, funding, bank.headers, deadline)
        assert funding.acknowledged, funding
    return bank


def deposit(account: str, amount: int) -> Operation:
    return Operation(
        kind="deposit",
        key=new_key(),
        path=f"/v1/accounts/{account}/deposits",
        body={"amount": amount, "currency": CURRENCY},
        debit=None,
        credit=account,
        amount=amount,
    )


def withdrawal(account: str, amount: int) -> Operation:
    return Operation(
        kind="withdrawal",
        key=new_key(),
        path=f"/v1/accounts/{account}/withdrawals",
        body={"amount": amount, "currency": CURRENCY},
        debit=account,
        credit=None,
        amount=amount,
    )


def transfer(source: str, destination: str, amount: int) -> Operation:
    return Operation(
        kind="transfer",
        key=new_key(),
        path="/v1/transfers",
        body={
            "source_account_id": source,
            "destination_account_id": destination,
            "amount": amount,
            "currency": CURRENCY,
        },
        debit=source,
        credit=destination,
        amount=amount,
    )


def new_key() -> str:
    return f"reliability-{uuid.uuid4()}"


async def send(
    http: httpx.AsyncClient, operation: Operation, headers: Headers, deadline: float
) -> None:
    """Send ``operation`` until it is answered or ``deadline`` (monotonic) passes; the
    same key and body every time."""
    started = time.monotonic()
    while (left := deadline - time.monotonic()) > 0:
        operation.requests += 1
        sent = time.monotonic()
        try:
            response = await http.post(
                operation.path,
                json=operation.body,
                headers={**headers, "Idempotency-Key": operation.key},
                timeout=min(REQUEST_SECONDS, left),
            )
        except httpx.TransportError as error:
            cause = type(error).__name__
            operation.timings.append((0, cause, time.monotonic() - sent))
            delay = min(1.0, 0.05 * 2 ** min(operation.requests, 5))
        else:
            operation.timings.append(
                (response.status_code, problem_code(response), time.monotonic() - sent)
            )
            unanswered = unanswered_cause(response)
            if unanswered is None:
                operation.status = response.status_code
                operation.answer = json_or_text(response)
                operation.replayed = response.headers.get("Idempotent-Replayed") == "true"
                operation.seconds = time.monotonic() - started
                return
            cause = unanswered
            delay = min(float(response.headers.get("Retry-After", "1")), RETRY_AFTER_CAP)
        operation.retry_causes[cause] += 1
        await asyncio.sleep(min(delay * random.uniform(0.5, 1.0), max(0.0, left)))


def unanswered_cause(response: httpx.Response) -> str | None:
    """Why ``response`` is no answer yet, or None when it is one. A 503 that is not the
    retriable problem docs/api.md promises is named as such, for the tests to refuse."""
    if response.status_code == 409:
        return f"409 {problem_code(response)}"
    if response.status_code != 503:
        return None
    code = problem_code(response)
    promised = (
        response.headers.get("content-type") == "application/problem+json"
        and code in RETRIABLE_CODES
        and response.headers.get("Retry-After") is not None
    )
    return f"503 {code}" if promised else f"503 {UNPROMISED}: {response.text[:200]}"


def json_or_text(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"text": response.text[:200]}
    return body if isinstance(body, dict) else {"json": body}


def problem_code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


class Load:
    """``clients`` concurrent clients sending ``operations`` movements between them
    (transfers, deposits, withdrawals, and a few overdrafts that must be refused); every
    client stops at ``seconds`` whatever is left unanswered."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        bank: Bank,
        *,
        clients: int,
        operations: int,
        seed: int,
        seconds: float = 90,
        reads: bool = False,
    ) -> None:
        self._http = http
        self._bank = bank
        self._clients = clients
        self._per_client = -(-operations // clients)
        self._seed = seed
        self._seconds = seconds
        self._reads = reads
        self.operations: list[Operation] = []
        self.reads: list[Read] = []

    @property
    def acknowledged(self) -> int:
        return sum(operation.acknowledged for operation in self.operations)

    async def run(self) -> None:
        deadline = time.monotonic() + self._seconds
        async with asyncio.TaskGroup() as clients:
            for number in range(self._clients):
                clients.create_task(self._client(random.Random(f"{self._seed}-{number}"), deadline))

    async def until_acknowledged(self, count: int) -> int:
        """Wait until ``count`` movements were acknowledged; how many were answered."""
        deadline = time.monotonic() + self._seconds
        while self.acknowledged < count:
            assert time.monotonic() < deadline, f"only {self.acknowledged} acknowledged"
            await asyncio.sleep(0.01)
        return sum(operation.status is not None for operation in self.operations)

    async def _client(self, rng: random.Random, deadline: float) -> None:
        for _ in range(self._per_client):
            if time.monotonic() >= deadline:
                return
            operation = self._plan(rng)
            self.operations.append(operation)
            await send(self._http, operation, self._bank.headers, deadline)
            if self._reads and time.monotonic() < deadline:
                await self._read(rng.choice(self._bank.accounts))

    def _plan(self, rng: random.Random) -> Operation:
        accounts = self._bank.accounts
        draw = rng.random()
        if draw < 0.15:
            return deposit(rng.choice(accounts), rng.randint(1, 1000))
        if draw < 0.25:
            return withdrawal(rng.choice(accounts), rng.randint(1, 1000))
        source, destination = rng.sample(accounts, 2)
        if draw < 0.30:
            return transfer(source, destination, OVERDRAFT)
        return transfer(source, destination, rng.randint(1, 1000))

    async def _read(self, account: str) -> None:
        """A statement read, answered as it comes (reads are not retried here)."""
        started = time.monotonic()
        try:
            response = await self._http.get(
                f"/v1/accounts/{account}/entries", params={"limit": 20}, headers=self._bank.headers
            )
        except httpx.TransportError as error:
            self.reads.append(Read(0, type(error).__name__, time.monotonic() - started))
            return
        code = problem_code(response) if response.status_code >= 400 else None
        self.reads.append(Read(response.status_code, code, time.monotonic() - started))


def summarize(operations: list[Operation]) -> dict[str, Any]:
    """The numbers of a run: sent (HTTP requests), acknowledged, refused, retried."""
    causes: Counter[str] = Counter()
    for operation in operations:
        causes += operation.retry_causes
    sent = sum(operation.requests for operation in operations)
    return {
        "operations": len(operations),
        "requests_sent": sent,
        "acknowledged": sum(operation.acknowledged for operation in operations),
        "acknowledged_as_replays": sum(operation.replayed for operation in operations),
        "refused": dict(
            Counter(
                f"{operation.status} {operation.answer.get('code')}"
                for operation in operations
                if operation.refused
            )
        ),
        "retried_requests": sum(causes.values()),
        "retried_operations": sum(operation.requests > 1 for operation in operations),
        "retry_causes": dict(causes),
        "unanswered": sum(operation.status is None for operation in operations),
        "server_errors": sum((operation.status or 0) >= 500 for operation in operations),
        "slowest_answer_seconds": round(max((o.seconds for o in operations), default=0.0), 3),
    }


def client_failures(operations: Iterable[Operation]) -> list[str]:
    """What no client may see: no answer before the deadline, a 5xx answer, or a 503
    without the retriable problem."""
    failures = []
    for operation in operations:
        if operation.status is None:
            failures.append(f"unanswered after {operation.requests} requests: {operation.key}")
        elif operation.status >= 500:
            failures.append(f"answered {operation.status} {operation.answer}: {operation.key}")
        elif operation.acknowledged and operation.amount == OVERDRAFT:
            failures.append(f"an overdraft was acknowledged: {operation.answer}")
        failures += [
            f"{cause}: {operation.key}" for cause in operation.retry_causes if UNPROMISED in cause
        ]
    return failures


@dataclass
class Books:
    """The database against the acknowledgements; ``problems`` is empty when they match."""

    transfers: int = 0
    entries: int = 0
    reconcile: str = "not run"
    problems: list[str] = field(default_factory=list)


def check_books(
    database_url: str,
    bank: Bank,
    operations: list[Operation],
    env: dict[str, str],
    workdir: Path,
) -> Books:
    """Every acknowledged movement exists exactly once, as acknowledged, with its two
    entries; nothing exists that no client was told about; each key took effect at most
    once; balances and versions are what the acknowledgements add up to; and
    ``banking reconcile`` passes."""
    books = Books()
    problems = books.problems
    with psycopg.connect(libpq_url(database_url), connect_timeout=10) as connection:
        stored = {
            str(row[0]): row[1:]
            for row in connection.execute(
                "SELECT id, kind, source_account_id::text, destination_account_id::text, amount"
                " FROM transfers"
            )
        }
        legs = {
            str(row[0]): row[1:]
            for row in connection.execute(
                "SELECT transfer_id, count(*), sum(amount), max(amount) FROM entries"
                " GROUP BY transfer_id"
            )
        }
        records: dict[str, str] = {
            str(key): str(outcome)
            for key, outcome in connection.execute(
                "SELECT key, outcome FROM idempotency_keys WHERE client_id = %s",
                (bank.client_id,),
            )
        }
        accounts = {
            str(row[0]): (row[1], row[2])
            for row in connection.execute(
                "SELECT id, balance, version FROM accounts WHERE kind = 'customer'"
            )
        }
        books.transfers = len(stored)
        books.entries = sum(int(row[0]) for row in legs.values())

    acknowledged = [operation for operation in operations if operation.acknowledged]
    told = Counter(str(operation.answer.get("id")) for operation in acknowledged)
    problems += [f"one id acknowledged {n} times: {id_}" for id_, n in told.items() if n > 1]
    for operation in acknowledged:
        row = stored.get(str(operation.answer.get("id")))
        if row is None:
            problems.append(
                f"acknowledged but not in the books: {operation.key} {operation.answer}"
            )
            continue
        kind, source, destination, amount = row
        if kind != operation.kind or amount != operation.amount:
            problems.append(f"stored as {kind} {amount}, acknowledged as {operation.answer}")
        if (operation.debit or source, operation.credit or destination) != (source, destination):
            problems.append(f"stored between {source} and {destination}: {operation.answer}")
    problems += [f"in the books, never acknowledged: {t}" for t in sorted(set(stored) - set(told))]

    for transfer_id in stored:
        count, total, largest = legs.get(transfer_id, (0, 0, 0))
        if (count, total, largest) != (2, 0, stored[transfer_id][3]):
            problems.append(f"transfer {transfer_id} has {count} entries summing to {total}")

    for operation in operations:
        if operation.status is None or operation.status >= 500:
            continue  # no outcome is stored for those
        record = records.get(operation.key)
        if record is None:
            problems.append(
                f"answered {operation.status} without a stored outcome: {operation.key}"
            )
            continue
        outcome = json.loads(record)
        if operation.acknowledged and outcome.get("ok", {}).get("id") != operation.answer["id"]:
            problems.append(
                f"key {operation.key} stored {outcome}, acknowledged {operation.answer}"
            )
        if operation.refused and outcome.get("error", {}).get("code") != operation.answer["code"]:
            problems.append(f"key {operation.key} stored {outcome}, refused {operation.answer}")

    balances: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    for operation in acknowledged:
        if operation.debit:
            balances[operation.debit] -= operation.amount
            versions[operation.debit] += 1
        if operation.credit:
            balances[operation.credit] += operation.amount
            versions[operation.credit] += 1
    for account in bank.accounts:
        expected = (balances[account], 1 + versions[account])
        if accounts.get(account) != expected:
            problems.append(f"{account}: (balance, version) {accounts.get(account)} != {expected}")

    checked = banking({**env, "BANKING_DATABASE_URL": database_url}, workdir, "reconcile")
    if checked.returncode == 0 and checked.stdout.endswith(
        f"All {len(invariants())} invariants hold.\n"
    ):
        books.reconcile = f"passed: all {len(invariants())} invariants hold"
    else:
        books.reconcile = f"FAILED (exit {checked.returncode})"
        problems.append(f"banking reconcile:\n{checked.stdout}{checked.stderr}")
    return books


async def under_fault(load: Load, fault: Coroutine[Any, Any, None]) -> None:
    """Run ``load`` with ``fault`` beside it; a failure of either cancels the other."""
    async with asyncio.TaskGroup() as group:
        group.create_task(load.run())
        group.create_task(fault)


def conclude(
    report: Callable[[str, dict[str, Any]], None],
    name: str,
    *,
    database_url: str,
    bank: Bank,
    operations: list[Operation],
    env: dict[str, str],
    workdir: Path,
    **details: Any,
) -> dict[str, Any]:
    """Check the books, report the numbers (whatever the verdict), then assert that no
    client saw a failure and that the books match the acknowledgements."""
    everything = bank.operations + operations
    books = check_books(database_url, bank, everything, env, workdir)
    summary = {
        **summarize(operations),
        "setup_deposits": len(bank.operations),
        "transfers_in_books": books.transfers,
        "entries_in_books": books.entries,
        "reconcile": books.reconcile,
        "problems": books.problems[:50],
        "service_log": service_log(workdir),
        **details,
    }
    report(name, summary)
    failures = client_failures(everything) + books.problems
    assert not failures, "\n".join(failures[:30] + server_log_of(everything, workdir))
    return summary


def service_log(workdir: Path) -> dict[str, int]:
    """How often the service logged each database failure (as 503s) and each 500."""
    counted: Counter[str] = Counter()
    for line in service_stderr(workdir).splitlines():
        try:
            message = str(json.loads(line).get("message", ""))
        except (ValueError, AttributeError):
            continue
        if message.startswith("database unavailable") or message == "unexpected error":
            counted[message] += 1
    return dict(counted)


def service_stderr(workdir: Path) -> str:
    """What ``banking serve`` wrote to its standard error (tests/e2e/processes.py)."""
    return "".join(path.read_text() for path in sorted(workdir.glob("serve-*.err")))


def server_log_of(operations: Iterable[Operation], workdir: Path, limit: int = 3) -> list[str]:
    """The service's log lines of the first few 500s (by the correlation id they quote)."""
    quoted = [
        str(operation.answer["correlation_id"])
        for operation in operations
        if operation.status == 500 and "correlation_id" in operation.answer
    ][:limit]
    lines = service_stderr(workdir).splitlines()
    return [line for line in lines if any(id_ in line for id_ in quoted)]
