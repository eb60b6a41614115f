"""(b) The service: `banking serve` in a child process, on the run's database."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.processes import REPO, stop, tree_rss

HOST = "127.0.0.1"
_RETRIES = re.compile(r"^banking_unit_of_work_retries(?:_total)? (\S+)$", re.M)
_CONFLICTS = re.compile(r"^banking_concurrency_conflicts(?:_total)? (\S+)$", re.M)
_TRANSFER_REQUESTS = re.compile(
    r'^banking_http_request_duration_seconds_count\{[^}]*route="/v1/transfers"[^}]*\} (\S+)$',
    re.M,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Service:
    def __init__(self, database_url: str, workers: int, log: Path, command: str | None) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.workers = workers
        self.admin_token = secrets.token_urlsafe(24)
        self._database_url = database_url
        self._log = log
        template = command or f"{Path(sys.executable).parent / 'banking'} serve"
        self.command = [
            *shlex.split(template),
            f"--host={HOST}",
            f"--port={self.port}",
            f"--workers={workers}",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "BANKING_DATABASE_URL": self._database_url,
            "BANKING_ADMIN_TOKEN": self.admin_token,
        }
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"`banking serve` exited: see {self._log}\n{self.log_tail()}")
            try:
                if self.request("GET", "/health/ready", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"`banking serve` was not ready after {timeout}s\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop(process, grace=15.0)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None, timeout=10.0
    ) -> tuple[int, str]:
        """One request on a fresh connection (so successive calls reach any worker)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def create_client(self, name: str) -> tuple[str, str]:
        """(client id, API key), through POST /v1/admin/clients."""
        status, body = self.request(
            "POST", "/v1/admin/clients", {"name": name}, token=self.admin_token
        )
        if status != 201:
            raise RuntimeError(f"creating the API client answered {status}: {body}")
        created = json.loads(body)
        return created["id"], created["api_key"]

    def counters(self, scrapes: int = 16) -> dict[str, Any]:
        """banking_unit_of_work_retries and conflicts, summed over the workers.

        Each worker keeps its own registry and a scrape reaches one of them, so /metrics
        is scraped on fresh connections until every worker has answered (told apart by
        their transfer counts; counters do not move between cells).
        """
        seen: set[tuple[float, float, float]] = set()
        for _ in range(scrapes):
            status, text = self.request("GET", "/metrics")
            if status != 200:
                continue
            seen.add(
                (
                    _value(_RETRIES, text),
                    _value(_CONFLICTS, text),
                    sum(float(v) for v in _TRANSFER_REQUESTS.findall(text)),
                )
            )
        return {
            "retries": sum(s[0] for s in seen),
            "conflicts": sum(s[1] for s in seen),
            "transfer_requests": sum(s[2] for s in seen),
            "registries_seen": len(seen),
        }

    def rss(self) -> dict[str, Any]:
        return tree_rss(self.process.pid) if self.process else {"total_mb": 0.0}


def _value(pattern: re.Pattern[str], text: str) -> float:
    match = pattern.search(text)
    return float(match.group(1)) if match else 0.0
