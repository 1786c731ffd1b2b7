"""Runtime configuration: read from the environment once, validated, failing fast with a clear message.

The same names are used by template.yaml, the local stack and the tests; README "Configuration" lists them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdr_ingest import destinations
from hdr_ingest.core import defaults
from hdr_ingest.core.routing import RouteSpec, verify_option
from hdr_ingest.core.urls import url_problem

DEFAULT_GATEWAY_URL = "https://api.dev.hdruk.cloud/api/v1"
DEFAULT_MAX_OBJECT_BYTES = 10 * 1024 * 1024  # the Gateway's practical limit (TRASER's 10 MB JSON body limit)
DEFAULT_RECORD_CONCURRENCY = 8
MAX_RECORD_CONCURRENCY = 10  # the SQS event source's BatchSize: more threads than records gain nothing
# Memory a document in flight needs per byte of its S3 object, and what the runtime needs before any document
# (`make bench`: 59 MB after start-up). The factor is the worst case, because what a document costs depends on
# its text: the Gateway's HTML-encoding is emulated on a copy of every string (& becomes &amp;, ' becomes &#039;),
# and Python stores a string at 1, 2 or 4 bytes per character, 4 as soon as it holds one emoji. Peak RSS above
# start-up per byte of a 9 MB object (parse, canonical JSON, digest, judge, request body; issue 12): plain text
# 7.1, é 8.2, & 10.3 (11.2 in one long value), ' 11.2 (12.2), ' with an emoji in each value 32-36 (24 of it the
# encoded copy: 6 characters of 4 bytes per byte); rounded up. Concurrent records hold at most
# (memory - base) / factor bytes of objects at once: 10.4 MB at 512 MB, so a 10 MB document runs alone and fits
# whatever its text, and small documents still run side by side.
MEMORY_PER_DOCUMENT_BYTE = 40
MEMORY_BASE_MB = 96
MAX_TIMEOUT_S = 900.0  # a Lambda invocation runs at most 15 minutes: a longer wait can never end


class ConfigError(Exception):
    """The function is misconfigured. The message names every bad or missing variable."""


@dataclass(frozen=True)
class Settings:
    routes: tuple[RouteSpec, ...]
    ledger_table: str
    dlq_url: str
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    max_receive_count: int = defaults.MAX_RECEIVE_COUNT
    schema_pack_dir: Path | None = None
    connect_timeout_s: float = defaults.CONNECT_TIMEOUT_S
    read_timeout_s: float = defaults.READ_TIMEOUT_S
    max_attempts: int = defaults.MAX_ATTEMPTS
    secret_max_age_s: int = defaults.SECRET_MAX_AGE_S
    archive_on_delete: bool = False
    lookup_new_sources: bool = False
    catalogue_id_pointer: str | None = None
    record_concurrency: int = DEFAULT_RECORD_CONCURRENCY
    documents_in_flight_bytes: int = (512 - MEMORY_BASE_MB) * 1024 * 1024 // MEMORY_PER_DOCUMENT_BYTE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []
        read = _Reader(env, problems)
        routes = _routes(env, problems)
        ledger_table = read.required("LEDGER_TABLE")
        dlq_url = read.required("DLQ_URL")
        max_bytes = read.number("MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES, 1)
        max_receive = read.number("MAX_RECEIVE_COUNT", defaults.MAX_RECEIVE_COUNT, 1)
        connect_timeout = read.number(
            read.renamed("CONNECT_TIMEOUT"), defaults.CONNECT_TIMEOUT_S, 0.1, float, MAX_TIMEOUT_S
        )
        read_timeout = read.number(read.renamed("READ_TIMEOUT"), defaults.READ_TIMEOUT_S, 0.1, float, MAX_TIMEOUT_S)
        attempts = read.number(read.renamed("MAX_ATTEMPTS"), defaults.MAX_ATTEMPTS, 1)
        secret_age = read.number("SECRET_MAX_AGE", defaults.SECRET_MAX_AGE_S, 0)
        concurrency = read.number("RECORD_CONCURRENCY", DEFAULT_RECORD_CONCURRENCY, 1)
        if concurrency > MAX_RECORD_CONCURRENCY:
            problems.append(
                f"RECORD_CONCURRENCY={env['RECORD_CONCURRENCY'].strip()!r} must be at most {MAX_RECORD_CONCURRENCY} "
                "(the SQS batch size)"
            )
        memory_mb = read.number("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 512, 128)  # set by Lambda (MemorySize)
        in_flight = max(1, int(memory_mb) - MEMORY_BASE_MB) * 1024 * 1024 // MEMORY_PER_DOCUMENT_BYTE
        if max_bytes > in_flight:
            problems.append(
                f"MAX_OBJECT_BYTES={int(max_bytes)} must be at most {in_flight}: what the function can hold in "
                f"AWS_LAMBDA_FUNCTION_MEMORY_SIZE={int(memory_mb)} MB ({MEMORY_PER_DOCUMENT_BYTE} bytes of memory "
                "per byte of a document); raise MemorySize for larger objects"
            )
        archive, lookup_new = read.flag("ARCHIVE_ON_DELETE"), read.flag("LOOKUP_NEW_SOURCES")
        pointer = env.get("CATALOGUE_ID_POINTER", "").strip() or None
        if pointer is not None and not pointer.startswith("/"):
            problems.append(f"CATALOGUE_ID_POINTER={pointer!r} must be a JSON pointer such as /identifier")
        pack_dir = Path(env["SCHEMA_PACK_DIR"]) if env.get("SCHEMA_PACK_DIR") else None
        if pack_dir is not None and not (pack_dir / "available.json").is_file():
            problems.append(f"SCHEMA_PACK_DIR={str(pack_dir)!r} holds no available.json (run `make schemas`)")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(
            routes=routes,
            ledger_table=ledger_table,
            dlq_url=dlq_url,
            max_object_bytes=int(max_bytes),
            max_receive_count=int(max_receive),
            schema_pack_dir=pack_dir,
            connect_timeout_s=connect_timeout,
            read_timeout_s=read_timeout,
            max_attempts=int(attempts),
            secret_max_age_s=int(secret_age),
            archive_on_delete=archive,
            lookup_new_sources=lookup_new,
            catalogue_id_pointer=pointer,
            record_concurrency=int(concurrency),
            documents_in_flight_bytes=in_flight,
        )


@dataclass
class _Reader:
    """Reads variables, adding every problem to ``problems`` instead of stopping at the first."""

    env: Mapping[str, str]
    problems: list[str]

    def renamed(self, suffix: str) -> str:
        """``DESTINATION_<suffix>``, which governs every destination; its old name ``GATEWAY_<suffix>`` (from when
        the Gateway was the only one) is still read when the new one is unset. Both set and different is a problem."""
        new, old = f"DESTINATION_{suffix}", f"GATEWAY_{suffix}"
        new_raw, old_raw = self.env.get(new, "").strip(), self.env.get(old, "").strip()
        if new_raw and old_raw and new_raw != old_raw:
            self.problems.append(f"{new}={new_raw!r} and its old name {old}={old_raw!r} disagree: set only {new}")
        return old if old_raw and not new_raw else new

    def flag(self, name: str) -> bool:
        """``true`` or ``false`` (default ``false``)."""
        raw = self.env.get(name, "").strip().lower() or "false"
        if raw not in ("true", "false"):
            self.problems.append(f"{name}={raw!r} must be 'true' or 'false'")
        return raw == "true"

    def required(self, name: str) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            self.problems.append(f"{name} is required but not set")
        return value

    def number(self, name: str, default: float, minimum: float, kind: type = int, maximum: float = math.inf) -> float:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number")
            return default
        if not math.isfinite(value):
            self.problems.append(f"{name}={raw!r} must be a finite number")
            return default
        if value < minimum:
            self.problems.append(f"{name}={raw!r} must be at least {minimum}")
        if value > maximum:
            self.problems.append(f"{name}={raw!r} must be at most {maximum:g}")
        return float(value)


def _routes(env: Mapping[str, str], problems: list[str]) -> tuple[RouteSpec, ...]:
    """``DESTINATIONS`` when set; else the one HDR UK route on ``incoming/`` that the GATEWAY_* variables define."""
    raw = env.get("DESTINATIONS", "").strip()
    specs = _parse_destinations(raw, problems, _allow_local(env)) if raw else _legacy_route(env, problems)
    for spec in specs:
        kind = destinations.kind(spec.kind)
        if kind is None:
            problems.append(f"route {spec.prefix!r}: kind {spec.kind!r} is not one of {destinations.kinds()}")
        elif raw:
            problems.extend(kind.problems(spec))
        else:  # name the variables the user set, not the route's options
            problems.extend(_as_variable(p) for p in kind.problems(spec) if "needs a secret" not in p)
    return specs


def _legacy_route(env: Mapping[str, str], problems: list[str]) -> tuple[RouteSpec, ...]:
    gateway_url = env.get("GATEWAY_URL", "").strip() or DEFAULT_GATEWAY_URL
    problem = url_problem(gateway_url, _allow_local(env))
    if problem:
        problems.append(f"GATEWAY_URL={gateway_url!r} {problem} (e.g. {DEFAULT_GATEWAY_URL})")
    secret = env.get("GATEWAY_SECRET_ID", "").strip()
    if not secret:
        problems.append("GATEWAY_SECRET_ID is required but not set (or set DESTINATIONS)")
    options: dict[str, str] = {}
    for name, option in LEGACY_OPTIONS:
        value = env.get(name, "").strip()
        if value:
            options[option] = value.lower() if option == "validationMode" else value
    return (RouteSpec(DEFAULT_PREFIX, "hdruk", gateway_url.rstrip("/"), secret or None, options),)


def _as_variable(problem: str) -> str:
    text = problem.split(": ", 1)[1] if ": " in problem else problem
    for name, option in LEGACY_OPTIONS:
        text = text.replace(option, name)
    return text


def _parse_destinations(raw: str, problems: list[str], allow_local: bool) -> tuple[RouteSpec, ...]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        problems.append(f"DESTINATIONS is not JSON ({exc}); it must be a list of routes {ROUTE_SHAPE}")
        return ()
    if not isinstance(value, list) or not value:
        problems.append(f"DESTINATIONS must be a non-empty JSON list of routes {ROUTE_SHAPE}")
        return ()
    specs: list[RouteSpec] = []
    for index, item in enumerate(value):
        spec = _route(index, item, problems, allow_local)
        if spec is not None:
            specs.append(spec)
    prefixes = [s.prefix for s in specs]
    for prefix in sorted({p for p in prefixes if prefixes.count(p) > 1}):
        problems.append(f"DESTINATIONS: prefix {prefix!r} has more than one route")
    return tuple(specs)


def _route(index: int, item: Any, problems: list[str], allow_local: bool) -> RouteSpec | None:
    where = f"DESTINATIONS[{index}]"
    if not isinstance(item, dict):
        problems.append(f"{where} must be an object {ROUTE_SHAPE}")
        return None
    found = len(problems)
    unknown = sorted(set(item) - {"prefix", "kind", "url", "secret", "options"})
    if unknown:
        problems.append(f"{where}: unknown fields {unknown}")
    prefix, kind, url = item.get("prefix"), item.get("kind"), item.get("url")
    secret, options = item.get("secret"), item.get("options", {})
    if not isinstance(prefix, str) or prefix.startswith("/"):
        # S3 keys have no leading slash: a prefix starting with one would never match an object.
        problems.append(f"{where}.prefix must be a key prefix such as 'incoming/' (no leading '/')")
    if not isinstance(kind, str) or not kind:
        problems.append(f"{where}.kind must be one of {destinations.kinds()}")
    problem = url_problem(url, allow_local) if isinstance(url, str) else "must be a URL"
    if problem:
        problems.append(f"{where}.url={url!r} {problem}")
    if secret is not None and (not isinstance(secret, str) or not secret.strip()):
        problems.append(f"{where}.secret must be a secret name or ARN, or null")
    if not isinstance(options, dict):
        problems.append(f"{where}.options must be an object")
    if len(problems) > found:
        return None
    verify, own, problem = verify_option(options)
    if problem:
        problems.append(f"{where}.options.{problem}")
        return None
    secret_id = secret.strip() if secret else None
    return RouteSpec(str(prefix), str(kind), str(url).rstrip("/"), secret_id, dict(own), verify=verify)


def _allow_local(env: Mapping[str, str]) -> bool:
    return env.get("ALLOW_LOCAL_DESTINATIONS", "").strip().lower() == "true"


ROUTE_SHAPE = '{"prefix": "...", "kind": "hdruk", "url": "https://...", "secret": "<id or null>", "options": {}}'
DEFAULT_PREFIX = "incoming/"
# Without DESTINATIONS, these variables are the options of the one HDR UK route.
LEGACY_OPTIONS = (
    ("GATEWAY_HEADER_STYLE", "headerStyle"),
    ("TARGET_SCHEMA", "targetSchema"),
    ("VALIDATION_MODE", "validationMode"),
)
