"""What one run measures: the cells, their durations, and the data set."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

CURRENCY = "USD"
# Every seeded account starts with 10^12 minor units and transfers move 1..100, so no
# transfer in any run can meet `insufficient_funds`: every refusal is contention.
OPENING_BALANCE = 10**12
MAX_AMOUNT = 100
# Transfers per request in the batch cell (``POST /v1/batches``, atomic).
BATCH_SIZE = 10
# The same retry budget the pgbench numbers were taken with.
PGBENCH_MAX_TRIES = 10
# An id prefix that makes seeded accounts recognisable; the rest is the account number.
ID_PREFIX = "b0b0b0b0"


def account_id(number: int) -> uuid.UUID:
    """Seeded account ``number`` (1-based); the pgbench script computes the same ids."""
    return uuid.UUID(hex=f"{ID_PREFIX}{number:024x}")


@dataclass(frozen=True, slots=True)
class Distribution:
    name: str
    accounts: int  # transfers go between distinct random accounts 1..accounts


UNIFORM = Distribution("uniform", 10_000)
HOT = Distribution("hot", 10)


@dataclass(frozen=True, slots=True)
class Plan:
    concurrencies: tuple[int, ...] = (1, 8, 32, 64)
    distributions: tuple[Distribution, ...] = (UNIFORM, HOT)
    warmup: float = 2.0  # seconds run but not counted, at the start of every cell
    duration: float = 10.0  # seconds counted
    ceiling_warmup: float = 1.0  # the generator against GET /health/live
    ceiling_duration: float = 4.0
    soak: float = 60.0  # service RSS over one long cell; 0 skips it
    soak_distribution: Distribution = UNIFORM
    soak_concurrency: int = 32
    # One more service cell, in every run: a hold and its capture as one operation.
    hold_distribution: Distribution = HOT
    hold_concurrency: int = 32
    # And one of atomic batches of BATCH_SIZE transfers, in transfers per second.
    batch_distribution: Distribution = UNIFORM
    batch_concurrency: int = 32
    workers: int = 2
    generator_processes: int = 1
    systems: tuple[str, ...] = ("pgbench", "service", "app")
    seed: int = 20_260_101
    # Service cells at this concurrency are profiled into flame graphs in flame_dir
    # (`--flame`).
    flame_concurrency: int | None = None
    flame_dir: str | None = None
    # The service reaches PostgreSQL through a PgBouncer in transaction mode
    # (`--pgbouncer`); pgbench and the application layer still connect directly.
    pgbouncer: bool = False

    @property
    def seeded_accounts(self) -> int:
        return max(d.accounts for d in self.distributions)

    def cells(self) -> list[tuple[Distribution, int]]:
        return [(d, c) for d in self.distributions for c in self.concurrencies]


QUICK = {"warmup": 1.0, "duration": 3.0, "ceiling_warmup": 0.5, "ceiling_duration": 2.0, "soak": 0}
