"""An ``hdruk`` route: ``{"prefix": ..., "kind": "hdruk", "url": "<Gateway API base>", "secret": "<secret id>",
"options": {"headerStyle": "x-headers" | "legacy", "targetSchema": "HDRUK 4.0.0" | "auto",
"validationMode": "gateway" | "strict", "api": "integrations" | "datasets"}}`` (README "Destinations")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hdr_ingest.core.once import once
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.hdruk.destination import HdrukDestination
from hdr_ingest.destinations.hdruk.options import Api, HeaderStyle
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef, default_pack_dir

OPTIONS = ("headerStyle", "targetSchema", "validationMode", "api")
VALIDATION_MODES = ("gateway", "strict")


@dataclass(frozen=True)
class HdrukOptions:
    """An hdruk route's options, read and checked (:func:`read`)."""

    header_style: HeaderStyle = HeaderStyle.X_HEADERS
    target: str | None = None  # "auto" or absent: the first schema that matches
    validation_mode: str = "gateway"
    api: Api = Api.INTEGRATIONS


def read(spec: RouteSpec) -> tuple[HdrukOptions, list[str]]:
    """The route's options and every problem with them (the options are the defaults where a value is wrong)."""
    where = f"route {spec.prefix!r} (hdruk)"
    found: list[str] = []
    options = spec.options
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        found.append(f"{where}: unknown options {unknown}; an hdruk route takes {list(OPTIONS)}")
    style = options.get("headerStyle", HeaderStyle.X_HEADERS.value)
    if style not in {s.value for s in HeaderStyle}:
        found.append(f"{where}: headerStyle={style!r} must be 'x-headers' or 'legacy'")
    target = options.get("targetSchema")
    if target is not None and (not isinstance(target, str) or _target_problem(target)):
        found.append(f"{where}: targetSchema={target!r}: {_target_problem(str(target))}")
    mode = options.get("validationMode", "gateway")
    if mode not in VALIDATION_MODES:
        found.append(f"{where}: validationMode={mode!r} must be 'gateway' or 'strict'")
    api = options.get("api", Api.INTEGRATIONS.value)
    if api not in {a.value for a in Api}:
        found.append(
            f"{where}: api={api!r} must be 'integrations' (/api/v1/integrations/datasets, deprecated) or "
            "'datasets' (/api/v1/datasets)"
        )
    if found:
        return HdrukOptions(), found
    return HdrukOptions(HeaderStyle(style), target, mode, Api(api)), found


def problems(spec: RouteSpec) -> list[str]:
    found = read(spec)[1]
    if not spec.secret:
        found.append(f"route {spec.prefix!r} (hdruk): needs a secret holding the Gateway app's app_id and client_id")
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
    from hdr_ingest.destinations.hdruk.client import DatasetsClient, GatewayClient
    from hdr_ingest.destinations.hdruk.judge import ValidationMode

    options, found = read(spec)
    if found:
        raise ValueError("; ".join(found))
    pack_dir = common.schema_pack_dir or default_pack_dir()
    target = target_schema(options.target)
    if target is not None:
        _check_in_pack(spec, target, pack_dir)
    client_class = DatasetsClient if options.api is Api.DATASETS else GatewayClient
    client = client_class(spec.url, options.header_style, common.connect_timeout_s, pool_size=common.pool_size)
    return HdrukDestination(
        spec.url,
        client,
        once(lambda: SchemaPack.load(pack_dir)),
        target,
        ValidationMode(options.validation_mode),
        api=options.api,
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
