"""Runtime configuration: read from the environment once, validated, failing fast with a clear message.

The same names are used by template.yaml, the local stack and the tests; README "Configuration" lists them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef, default_pack_dir

if TYPE_CHECKING:
    # Imported by Settings.from_env, not here: importing it costs a cold start about 35 ms, and the handler
    # module imports this one.
    from hdr_ingest.destinations.hdruk.judge import ValidationMode

DEFAULT_GATEWAY_URL = "https://api.dev.hdruk.cloud/api/v1"
DEFAULT_MAX_OBJECT_BYTES = 10 * 1024 * 1024  # the Gateway's practical limit (TRASER's 10 MB JSON body limit)
DEFAULT_RECORD_CONCURRENCY = 8
MAX_RECORD_CONCURRENCY = 10  # the SQS event source's BatchSize: more threads than records gain nothing
# Memory a document in flight needs per byte of its S3 object, and what the runtime needs before any document:
# `make bench` measured 59 MB after start-up and a 121 MB peak with one 10 MB document (about 6.2 bytes per
# byte), rounded up. Concurrent records hold at most (memory - base) / factor bytes of objects at once.
MEMORY_PER_DOCUMENT_BYTE = 7
MEMORY_BASE_MB = 96


class ConfigError(Exception):
    """The function is misconfigured. The message names every bad or missing variable."""


class HeaderStyle(StrEnum):
    """How app credentials are sent: the current Gateway reads ``x-application-id``/``x-client-id``;
    deployments older than February 2024 read ``app_id``/``client_id``."""

    X_HEADERS = "x-headers"
    LEGACY = "legacy"


@dataclass(frozen=True)
class Settings:
    gateway_url: str
    gateway_secret_id: str
    ledger_table: str
    dlq_url: str
    header_style: HeaderStyle = HeaderStyle.X_HEADERS
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    target_schema: SchemaRef | None = None
    validation_mode: ValidationMode | str = "gateway"  # from_env gives the ValidationMode
    max_receive_count: int = 5
    schema_pack_dir: Path = Path()
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 30.0
    max_gateway_attempts: int = 3
    secret_max_age_s: int = 300
    archive_on_delete: bool = False
    catalogue_id_pointer: str | None = None
    record_concurrency: int = DEFAULT_RECORD_CONCURRENCY
    documents_in_flight_bytes: int = (512 - MEMORY_BASE_MB) * 1024 * 1024 // MEMORY_PER_DOCUMENT_BYTE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        from hdr_ingest.destinations.hdruk.judge import ValidationMode

        env = os.environ if env is None else env
        problems: list[str] = []

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                problems.append(f"{name} is required but not set")
            return value

        def number(name: str, default: float, minimum: float, kind: type = int) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number")
                return default
            if value < minimum:
                problems.append(f"{name}={raw!r} must be at least {minimum}")
            return float(value)

        gateway_url = env.get("GATEWAY_URL", "").strip() or DEFAULT_GATEWAY_URL
        parts = urlsplit(gateway_url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            problems.append(f"GATEWAY_URL={gateway_url!r} must be an http(s) URL such as {DEFAULT_GATEWAY_URL}")
        secret_id = required("GATEWAY_SECRET_ID")
        ledger_table = required("LEDGER_TABLE")
        dlq_url = required("DLQ_URL")

        style_raw = env.get("GATEWAY_HEADER_STYLE", "").strip() or HeaderStyle.X_HEADERS.value
        try:
            header_style = HeaderStyle(style_raw)
        except ValueError:
            header_style = HeaderStyle.X_HEADERS
            problems.append(f"GATEWAY_HEADER_STYLE={style_raw!r} must be 'x-headers' or 'legacy'")

        target_raw = env.get("TARGET_SCHEMA", "").strip()
        target: SchemaRef | None = None
        if target_raw and target_raw.lower() != "auto":
            try:
                target = SchemaRef.parse(target_raw)
            except ValueError as exc:
                problems.append(f"TARGET_SCHEMA: {exc}")

        mode_raw = env.get("VALIDATION_MODE", "").strip().lower() or ValidationMode.GATEWAY.value
        try:
            validation_mode = ValidationMode(mode_raw)
        except ValueError:
            validation_mode = ValidationMode.GATEWAY
            problems.append(f"VALIDATION_MODE={mode_raw!r} must be 'gateway' or 'strict'")

        max_bytes = number("MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES, 1)
        max_receive = number("MAX_RECEIVE_COUNT", 5, 1)
        connect_timeout = number("GATEWAY_CONNECT_TIMEOUT", 3.05, 0.1, float)
        read_timeout = number("GATEWAY_READ_TIMEOUT", 30.0, 0.1, float)
        attempts = number("GATEWAY_MAX_ATTEMPTS", 3, 1)
        secret_age = number("SECRET_MAX_AGE", 300, 0)
        concurrency = number("RECORD_CONCURRENCY", DEFAULT_RECORD_CONCURRENCY, 1)
        if concurrency > MAX_RECORD_CONCURRENCY:
            problems.append(
                f"RECORD_CONCURRENCY={env['RECORD_CONCURRENCY'].strip()!r} must be at most {MAX_RECORD_CONCURRENCY} "
                "(the SQS batch size)"
            )
        memory_mb = number("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 512, 128)  # set by Lambda (MemorySize)
        archive_raw = env.get("ARCHIVE_ON_DELETE", "").strip().lower() or "false"
        if archive_raw not in ("true", "false"):
            problems.append(f"ARCHIVE_ON_DELETE={archive_raw!r} must be 'true' or 'false'")
        pointer = env.get("CATALOGUE_ID_POINTER", "").strip() or None
        if pointer is not None and not pointer.startswith("/"):
            problems.append(f"CATALOGUE_ID_POINTER={pointer!r} must be a JSON pointer such as /identifier")
        pack_dir = Path(env["SCHEMA_PACK_DIR"]) if env.get("SCHEMA_PACK_DIR") else default_pack_dir()

        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(
            gateway_url=gateway_url.rstrip("/"),
            gateway_secret_id=secret_id,
            ledger_table=ledger_table,
            dlq_url=dlq_url,
            header_style=header_style,
            max_object_bytes=int(max_bytes),
            target_schema=target,
            validation_mode=validation_mode,
            max_receive_count=int(max_receive),
            schema_pack_dir=pack_dir,
            connect_timeout_s=connect_timeout,
            read_timeout_s=read_timeout,
            max_gateway_attempts=int(attempts),
            secret_max_age_s=int(secret_age),
            archive_on_delete=archive_raw == "true",
            catalogue_id_pointer=pointer,
            record_concurrency=int(concurrency),
            documents_in_flight_bytes=max(1, int(memory_mb) - MEMORY_BASE_MB) * 1024 * 1024 // MEMORY_PER_DOCUMENT_BYTE,
        )
