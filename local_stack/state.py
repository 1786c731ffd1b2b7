"""The running local stack's address book, ``.local-stack/stack.json``, so that ``hdr-ingest`` needs no flags.

``python -m local_stack`` writes it once its resources exist and removes it on exit. ``HGI_LOCAL_STATE``
points the CLI at another file; otherwise the CLI looks in the working directory and each of its parents, then in
the checkout the code runs from (see :meth:`StackState.find`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PREFIXES",
    "DEFAULT_STATE_DIR",
    "STATE_FILE_NAME",
    "StackState",
    "default_state_path",
    "remove_state",
    "state_paths",
    "write_state",
]

DEFAULT_STATE_DIR = Path(".local-stack")
STATE_FILE_NAME = "stack.json"
DEFAULT_PREFIXES = ("incoming/",)
"""What the stack's bucket notification watches when the state file does not say (older state files)."""
CHECKOUT = Path(__file__).resolve().parent.parent


def default_state_path() -> Path:
    configured = os.environ.get("HGI_LOCAL_STATE")
    return Path(configured) if configured else DEFAULT_STATE_DIR / STATE_FILE_NAME


def state_paths(start: Path | None = None) -> list[Path]:
    """Where a running stack's state may be: ``$HGI_LOCAL_STATE`` alone when set; else ``.local-stack/stack.json``
    in ``start`` (the working directory) and each of its parents, then in this checkout."""
    configured = os.environ.get("HGI_LOCAL_STATE")
    if configured:
        return [Path(configured)]
    here = (start or Path.cwd()).resolve()
    paths = [directory / DEFAULT_STATE_DIR / STATE_FILE_NAME for directory in (here, *here.parents)]
    mine = CHECKOUT / DEFAULT_STATE_DIR / STATE_FILE_NAME
    return paths if mine in paths else [*paths, mine]


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

    @classmethod
    def find(cls, start: Path | None = None) -> StackState | None:
        """The first running stack among :func:`state_paths`."""
        for path in state_paths(start):
            state = cls.load(path)
            if state is not None:
                return state
        return None

    @property
    def prefixes(self) -> list[str]:
        """The key prefixes the stack's bucket announces to the function (``["incoming/"]`` if not recorded)."""
        found = self.data.get("prefixes")
        if isinstance(found, list) and found:
            return [str(p) for p in found]
        return list(DEFAULT_PREFIXES)

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
