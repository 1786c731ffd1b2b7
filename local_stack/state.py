"""The running local stack's address book, ``.local-stack/stack.json``, so that ``hdr-ingest`` needs no flags.

``python -m local_stack`` writes it once its resources exist and removes it on exit. ``HGI_LOCAL_STATE``
points the CLI at another file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_STATE_DIR", "STATE_FILE_NAME", "StackState", "default_state_path", "remove_state", "write_state"]

DEFAULT_STATE_DIR = Path(".local-stack")
STATE_FILE_NAME = "stack.json"


def default_state_path() -> Path:
    configured = os.environ.get("HGI_LOCAL_STATE")
    return Path(configured) if configured else DEFAULT_STATE_DIR / STATE_FILE_NAME


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StackState:
    """What a running stack wrote: AWS endpoint and resource names, credentials, the function's environment."""

    def __init__(self, data: dict[str, Any], path: Path) -> None:
        self.data = data
        self.path = path

    @classmethod
    def load(cls, path: Path | None = None) -> StackState | None:
        """The state of a stack that is still running, else ``None`` (no file, unreadable, or a dead process)."""
        path = path or default_state_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("aws"), dict):
            return None
        pid = data.get("pid")
        if isinstance(pid, int) and not _pid_alive(pid):
            return None
        return cls(data, path)

    @property
    def aws(self) -> dict[str, Any]:
        aws: dict[str, Any] = self.data["aws"]
        return aws

    def get(self, name: str) -> str | None:
        value = self.aws.get(name)
        return str(value) if value is not None else None

    @property
    def credentials(self) -> dict[str, str]:
        creds = self.aws.get("credentials")
        return {str(k): str(v) for k, v in creds.items()} if isinstance(creds, dict) else {}

    @property
    def function_env(self) -> dict[str, str]:
        env = self.data.get("function_env")
        return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}


def write_state(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temporary.replace(path)


def remove_state(path: Path) -> None:
    """Remove ``path`` if this process wrote it (another stack may have replaced it since)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and data.get("pid") == os.getpid():
        path.unlink(missing_ok=True)
