"""The embedded server kept running by the service that started it.

PostgreSQL's postmaster can die on its own (the kernel's OOM killer, an operator's
``kill -9``); its data survives and a new postmaster's crash recovery replays the WAL,
so that every committed transaction is there again. Nobody else would start it: the
service's workers would answer 503 forever. A thread of the serving process watches the
postmaster and starts it again, with capped exponential backoff while it cannot.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from infrastructure.postgres import embedded_state
from infrastructure.postgres.embedded import EmbeddedPostgres, EmbeddedPostgresError

logger = logging.getLogger("banking.embedded")

CHECK_SECONDS = 0.5  # how long a dead postmaster goes unnoticed, at most
# A dead postmaster's PID answers as a live process until its parent (init, once pg_ctl
# has exited) reaps it, and until then PostgreSQL refuses to start on its lock file: the
# first attempt waits for that, up to this long.
REAPED_SECONDS = 10.0
# Its backends notice its death within about a second; until they have exited, a new
# postmaster refuses the shared memory they hold. Each failed attempt doubles the wait.
FIRST_RETRY_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0


class EmbeddedSupervisor:
    """``with EmbeddedSupervisor(embedded):`` restarts ``embedded`` whenever its postmaster
    dies, for the block's duration. One log line per change: died, each failed attempt,
    running again."""

    def __init__(
        self,
        embedded: EmbeddedPostgres,
        *,
        check_seconds: float = CHECK_SECONDS,
        reaped_seconds: float = REAPED_SECONDS,
        first_retry_seconds: float = FIRST_RETRY_SECONDS,
        backoff_cap_seconds: float = BACKOFF_CAP_SECONDS,
    ) -> None:
        self._embedded = embedded
        self._check = check_seconds
        self._reaped = reaped_seconds
        self._first_retry = first_retry_seconds
        self._cap = backoff_cap_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="embedded-postgres-supervisor", daemon=True
        )

    def __enter__(self) -> EmbeddedSupervisor:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Before the server is stopped on purpose: a stop is no crash to repair.
        self._stopping.set()
        self._thread.join()

    def _watch(self) -> None:
        pid = self._embedded.postmaster_pid()
        while not self._stopping.wait(self._check):
            current = self._embedded.postmaster_pid()
            if current is not None:
                pid = current
                continue
            logger.warning(
                "the embedded PostgreSQL server (pid %s) has stopped: starting it again", pid
            )
            pid = self._recover(pid)

    def _recover(self, dead: int | None) -> int | None:
        """Start the server again until it runs or the supervisor stops; its new pid."""
        died = time.monotonic()
        deadline = died + self._reaped
        while dead is not None and not embedded_state.exited(dead) and time.monotonic() < deadline:
            if self._stopping.wait(0.05):
                return None
        delay = 0.0
        attempt = 0
        while not self._stopping.wait(delay):
            attempt += 1
            try:
                self._embedded.restart()
            except EmbeddedPostgresError as error:
                delay = min(max(delay * 2, self._first_retry), self._cap)
                logger.error("attempt %d failed: %s; next in %.1fs", attempt, error, delay)
                continue
            pid = self._embedded.postmaster_pid()
            logger.info(
                "the embedded PostgreSQL server runs again (pid %s), %.1fs after it stopped",
                pid,
                time.monotonic() - died,
            )
            return pid
        return None
