"""The key that signs pagination cursors, shared by every worker of one deployment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from infrastructure.settings import Settings


def cursor_secret_file(settings: Settings) -> Path:
    """Beside the embedded server's data directory, not inside it: ``initdb`` wants an
    empty directory, and the server's owner may not be ours."""
    data_dir = settings.data_dir.expanduser().resolve()
    return data_dir.with_name(f"{data_dir.name}.cursor_secret")


def cursor_secret(settings: Settings) -> str:
    """``BANKING_CURSOR_SECRET``; else, on the embedded default, the one kept on disk
    (made on first use, readable by its owner only), so that cursors outlive a restart;
    else one for this run."""
    if settings.cursor_secret is not None:
        return settings.cursor_secret.get_secret_value()
    if settings.database_url is not None:
        return secrets.token_urlsafe(32)
    path = cursor_secret_file(settings)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a private name, then linked into place: of two processes
    # starting at once, one key wins and both read it, never a half-written file.
    draft = path.with_name(f"{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
