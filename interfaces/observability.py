"""Request ids, structured logs and Prometheus metrics."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from application.transactions import RetryCounters

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Keys of the ASGI scope: set by a money route once its request reaches the use case,
# and by the error handlers with the problem code they answered.
_MOVEMENT_KIND = "banking.movement_kind"
_OUTCOME_CODE = "banking.outcome_code"


def current_request_id() -> str:
    return _request_id.get()


def one_line(error: BaseException) -> str:
    """An exception for an operator's log line: its class and the first line of its
    message (a driver's spans several: hints, the statement), without the traceback
    that an expected failure (the database down) would repeat on every request."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def reached_use_case(scope: Scope, kind: str) -> None:
    """Counts this request as a money movement of ``kind``: one that was authenticated,
    size- and type-checked and parsed, so that only the use case's answer is its outcome."""
    scope[_MOVEMENT_KIND] = kind


def answered_with(scope: Scope, code: str) -> None:
    """Notes the problem code a request was answered with, the outcome of a movement."""
    scope[_OUTCOME_CODE] = code


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """JSON lines when the output is not a terminal; readable lines when it is."""
    handler = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty():
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    else:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
                rename_fields={"levelname": "level", "asctime": "time"},
            )
        )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


class Metrics:
    """One registry per app, so several apps in one process (tests) never collide."""

    def __init__(self, retry_counters: list[RetryCounters]) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "banking_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.movements = Counter(
            "banking_money_movements_total",
            "Deposits, withdrawals and transfers that reached the use case, by kind and"
            " outcome: posted, replayed (a repeated Idempotency-Key) or the problem code.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.registry.register(_RetryCollector(retry_counters))


class _RetryCollector:
    """Sums the retry counters it is given."""

    def __init__(self, counters: list[RetryCounters]) -> None:
        # One runner may serve both roles (the in-memory adapter): count it once.
        self._counters = list({id(counter): counter for counter in counters}.values())

    def collect(self) -> Any:
        retries = CounterMetricFamily(
            "banking_unit_of_work_retries", "Units of work re-run after a transient conflict."
        )
        retries.add_metric([], sum(counter.retries for counter in self._counters))
        conflicts = CounterMetricFamily(
            "banking_concurrency_conflicts", "Units of work that spent their retry budget."
        )
        conflicts.add_metric([], sum(counter.conflicts for counter in self._counters))
        return [retries, conflicts]


class RequestContextMiddleware:
    """Gives every request an id (the caller's X-Request-ID when sane), echoes it on the
    response, and records latency and money-movement outcomes.

    An exception that escapes the app before it responded is answered here by
    ``on_unhandled(error)`` (an ASGI response), so that even a 500 carries the id.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        on_unhandled: Callable[[Exception], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.on_unhandled = on_unhandled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        responded = replayed = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded, replayed
            if message["type"] == "http.response.start":
                responded = True
                status = message["status"]
                replayed = any(
                    name.lower() == b"idempotent-replayed" for name, _ in message.get("headers", [])
                )
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if responded or self.on_unhandled is None:
                raise
            answered_with(scope, "internal_error")
            await self.on_unhandled(error)(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
            kind = scope.get(_MOVEMENT_KIND)
            if kind is not None:
                self.metrics.movements.labels(kind, _outcome(scope, status, replayed)).inc()
            _request_id.reset(token)


def _outcome(scope: Scope, status: int, replayed: bool) -> str:
    if replayed:
        return "replayed"
    if status == 201:
        return "posted"
    code: str = scope.get(_OUTCOME_CODE, str(status))
    return code
