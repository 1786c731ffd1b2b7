"""An ``hdruk`` route: ``{"prefix": ..., "kind": "hdruk", "url": "<Gateway API base>", "secret": "<secret id>",
"options": {"headerStyle": "x-headers" | "legacy", "targetSchema": "HDRUK 4.0.0" | "auto",
"validationMode": "gateway" | "strict"}}`` (README "Destinations")."""

from __future__ import annotations

import json
from pathlib import Path

from hdr_ingest.core.once import once
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.hdruk.destination import HdrukDestination
from hdr_ingest.destinations.hdruk.options import HeaderStyle
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef, default_pack_dir

OPTIONS = ("headerStyle", "targetSchema", "validationMode")
VALIDATION_MODES = ("gateway", "strict")


def problems(spec: RouteSpec) -> list[str]:
    where = f"route {spec.prefix!r} (hdruk)"
    found: list[str] = []
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        found.append(f"{where}: unknown options {unknown}; an hdruk route takes {list(OPTIONS)}")
    if not spec.secret:
        found.append(f"{where}: needs a secret holding the Gateway app's app_id and client_id")
    style = spec.options.get("headerStyle", HeaderStyle.X_HEADERS.value)
    if style not in {s.value for s in HeaderStyle}:
        found.append(f"{where}: headerStyle={style!r} must be 'x-headers' or 'legacy'")
    target = spec.options.get("targetSchema")
    if target is not None and (not isinstance(target, str) or _target_problem(target)):
        found.append(f"{where}: targetSchema={target!r}: {_target_problem(str(target))}")
    mode = spec.options.get("validationMode", "gateway")
    if mode not in VALIDATION_MODES:
        found.append(f"{where}: validationMode={mode!r} must be 'gateway' or 'strict'")
    return found


def _target_problem(text: str) -> str:
    if not text.strip() or text.strip().lower() == "auto":
        return ""
    try:
        SchemaRef.parse(text)
    except ValueError as exc:
        return str(exc)
    return ""


def target_schema(text: str | None) -> SchemaRef | None:
    return None if not text or text.strip().lower() == "auto" else SchemaRef.parse(text)


def build(spec: RouteSpec, common: Common) -> HdrukDestination:
    from hdr_ingest.destinations.hdruk.client import GatewayClient
    from hdr_ingest.destinations.hdruk.judge import ValidationMode

    pack_dir = common.schema_pack_dir or default_pack_dir()
    target = target_schema(spec.options.get("targetSchema"))
    if target is not None:
        _check_in_pack(spec, target, pack_dir)
    client = GatewayClient(
        spec.url,
        HeaderStyle(spec.options.get("headerStyle", HeaderStyle.X_HEADERS.value)),
        common.connect_timeout_s,
        pool_size=common.pool_size,
    )
    return HdrukDestination(
        spec.url,
        client,
        once(lambda: SchemaPack.load(pack_dir)),
        target,
        ValidationMode(spec.options.get("validationMode", "gateway")),
    )


def _check_in_pack(spec: RouteSpec, target: SchemaRef, pack_dir: Path) -> None:
    """A target schema the pack does not hold would fail every record: refuse it at start."""
    try:
        listing = json.loads((pack_dir / "available.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"route {spec.prefix!r} (hdruk): the schema pack at {pack_dir} is unreadable ({exc})") from exc
    if target.version not in listing.get(target.name, []):
        known = ", ".join(f"{name} {version}" for name, versions in listing.items() for version in versions)
        raise ValueError(f"route {spec.prefix!r} (hdruk): targetSchema {target} is not in the schema pack ({known})")
