"""TRASER's validator, run as TRASER runs it: Ajv 8 + ajv-formats through Node (``traser_node/worker.js``).

One long-lived Node process per emulator, started with it and stopped with it, speaking JSON lines over its
stdin/stdout; it loads the schema pack from the directory the emulator is given. Requests are answered one at a
time, as TRASER's single Node thread answers them. What it models (``shared/notes/hdruk-gateway.md`` §(c), §(h)):
first-match detection in ``available.json`` order, validation against a named schema, Ajv's first error and the
document as Ajv's ``coerceTypes``/``useDefaults`` left it, and the HDRUK 3.0.0 pattern that blocks TRASER for
minutes (reported as a hang once a validation runs longer than ``deadline`` seconds; the Gateway itself gives up on
TRASER after 30 s and answers 500).

Without Node (>= 18) or the pinned npm packages (``make setup`` runs ``npm ci``), :meth:`NodeTraser.start` raises
:class:`TraserUnavailable` with one line saying so: the emulator never falls back to judging another way.
``$GATEWAY_EMULATOR_NODE`` names another Node executable (default ``node`` on ``PATH``).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .validation import SchemaTarget

__all__ = ["NODE_DIR", "AjvError", "NodeTraser", "TraserReport", "TraserUnavailable"]

NODE_DIR = Path(__file__).with_name("traser_node")
_WORKER = NODE_DIR / "worker.js"
_START_SECONDS = 120.0  # compiling the 17 schemas takes about a second; generous for a loaded machine
_MIN_NODE = 18
SETUP_HINT = "run `make setup` (installs the emulator's npm packages with `npm ci`)"


class TraserUnavailable(RuntimeError):
    """Node or the pinned npm packages are missing, or the worker could not load the schema pack."""


@dataclass(frozen=True)
class AjvError:
    """One Ajv error, with ``path`` (``$.a.b``) and ``message`` as the emulator's validation layer reads them."""

    path: str
    message: str


@dataclass(frozen=True)
class TraserReport:
    valid: bool
    schema: SchemaTarget | None
    errors: tuple[AjvError, ...] = ()
    ajv_errors: tuple[dict[str, Any], ...] = ()
    document: Any = None
    hang: bool = False


def _dollar_path(pointer: str) -> str:
    """Ajv's ``instancePath`` (``/a/0/b``) as ``$.a[0].b``."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    return "$" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)


def _node() -> str:
    """The Node executable, or :class:`TraserUnavailable` naming what is missing."""
    node = shutil.which(os.environ.get("GATEWAY_EMULATOR_NODE", "node"))
    if node is None:
        raise TraserUnavailable(
            f"Gateway emulator: Node.js >= {_MIN_NODE} is not installed (no `node` on PATH); {SETUP_HINT}"
        )
    version = subprocess.run(  # noqa: S603 - the node executable found on PATH
        [node, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    major = version.strip().lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < _MIN_NODE:
        raise TraserUnavailable(
            f"Gateway emulator: Node.js >= {_MIN_NODE} is needed, found {version.strip() or '?'}; {SETUP_HINT}"
        )
    if not (NODE_DIR / "node_modules" / "ajv").is_dir() or not (NODE_DIR / "node_modules" / "ajv-formats").is_dir():
        raise TraserUnavailable(
            f"Gateway emulator: TRASER's npm packages (ajv, ajv-formats) are not installed; {SETUP_HINT}"
        )
    return node


class NodeTraser:
    """``validate(document, target)`` as TRASER answers it (see the module docstring).

    ``target`` None means TRASER's detection (every schema tried, the first match wins; a hang on any of them
    hangs the request). ``deadline`` is how long one validation may run before it counts as TRASER's hang.
    """

    def __init__(self, directory: Path, *, deadline: float = 5.0) -> None:
        self.directory = Path(directory)
        self.deadline = deadline
        listing = json.loads((self.directory / "available.json").read_text(encoding="utf-8"))
        self._refs = [SchemaTarget(name, version) for name, versions in listing.items() for version in versions]
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes] = queue.Queue()

    @property
    def refs(self) -> list[SchemaTarget]:
        """Every schema, in ``available.json`` order."""
        return list(self._refs)

    def __contains__(self, target: object) -> bool:
        name, version = getattr(target, "name", None), getattr(target, "version", None)
        return SchemaTarget(str(name), str(version)) in self._refs

    # -- lifecycle -----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the Node worker (once); :class:`TraserUnavailable` if it cannot run."""
        with self._lock:
            if not self.running:
                self._spawn()

    def stop(self) -> None:
        """Stop the worker: close its stdin, then wait for it (kill it if it does not exit)."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            _end(process, kill=False)

    def _spawn(self) -> None:
        node = _node()
        process = subprocess.Popen(  # noqa: S603 - a fixed script of this repository
            [node, str(_WORKER), str(self.directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._lines = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=_pump, args=(process.stdout, self._lines), name="traser-node", daemon=True).start()
        self._process = process
        first = self._read(_START_SECONDS)
        if first.get("ready") is not True:
            self._kill()
            problem = first.get("fatal") or first.get("error") or "the worker did not start"
            raise TraserUnavailable(f"Gateway emulator: TRASER's validator could not start ({problem}); {SETUP_HINT}")

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _end(process, kill=True)

    # -- requests ------------------------------------------------------------------------------------------
    def _read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return {"error": f"no answer from the worker within {timeout:.0f} s", "lost": True}
        if not line:
            return {"error": "the worker exited", "lost": True}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request, one answer; a worker that died or stopped answering is replaced on the next request."""
        request["deadline_ms"] = int(self.deadline * 1000)
        data = json.dumps(request, ensure_ascii=True, allow_nan=False).encode() + b"\n"
        with self._lock:
            if not self.running:
                self._spawn()
            process = self._process
            assert process is not None and process.stdin is not None
            process.stdin.write(data)
            process.stdin.flush()
            answer = self._read(self.deadline * (len(self._refs) + 1) + 60)
            if answer.get("lost"):
                self._kill()
        if "error" in answer:
            raise RuntimeError(f"TRASER worker: {answer['error']}")
        return answer

    def validate(self, document: Any, target: Any = None) -> TraserReport:
        if target is None:
            return self._find(document)
        schema = SchemaTarget(str(target.name), str(target.version))
        if schema not in self._refs:
            raise LookupError(f"{schema} is not in the schema pack")
        answer = self._ask({"op": "validate", "name": schema.name, "version": schema.version, "document": document})
        if answer["hang"]:
            return TraserReport(False, schema, document=answer["document"], hang=True)
        ajv_errors = tuple(answer["errors"] or ())
        errors = tuple(
            AjvError(_dollar_path(str(e.get("instancePath", ""))), str(e.get("message", ""))) for e in ajv_errors
        )
        return TraserReport(answer["valid"], schema, errors, ajv_errors, answer["document"])

    def _find(self, document: Any) -> TraserReport:
        answer = self._ask({"op": "find", "document": document})
        if answer["hang"] is not None:
            return TraserReport(False, SchemaTarget(*answer["hang"]), document=document, hang=True)
        if answer["match"] is None:
            return TraserReport(False, None, document=document)
        return TraserReport(True, SchemaTarget(*answer["match"]), document=document)


def _pump(stream: IO[bytes], lines: queue.Queue[bytes]) -> None:
    """Hand each line the worker writes to ``lines``; an empty line marks its end (the stream is then closed)."""
    with stream:
        for line in iter(stream.readline, b""):
            lines.put(line)
    lines.put(b"")


def _end(process: subprocess.Popen[bytes], *, kill: bool) -> None:
    """End the worker: close its stdin (it exits at the end of its input), or kill it; wait for it either way."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):  # a worker that died has left a broken pipe
            process.stdin.close()
    if kill:
        process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
