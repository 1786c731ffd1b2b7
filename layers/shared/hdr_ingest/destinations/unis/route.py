"""A ``unis`` route: ``{"prefix": ..., "kind": "unis", "url": "<UNIS server base; /metadata is appended>",
"secret": null | "<secret holding {"cert_pem", "key_pem"} (and optionally "ca_pem")>",
"options": {"schema": "2015" | "2012"}}`` (README "Destinations")."""

from __future__ import annotations

from urllib.parse import urlsplit

from hdr_ingest.core.once import once
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.unis.destination import UnisDestination
from hdr_ingest.destinations.unis.schemas import DEFAULT_VERSION, VERSIONS

OPTIONS = ("schema",)


def problems(spec: RouteSpec) -> list[str]:
    where = f"route {spec.prefix!r} (unis)"
    found: list[str] = []
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        found.append(f"{where}: unknown options {unknown}; a unis route takes {list(OPTIONS)}")
    schema = spec.options.get("schema", DEFAULT_VERSION)
    if schema not in VERSIONS:
        found.append(f"{where}: schema={schema!r} must be one of {sorted(VERSIONS)} (UNIS metadata schema year)")
    if urlsplit(spec.url).path.rstrip("/").endswith("/metadata"):  # the URL itself is checked by the settings
        found.append(f"{where}: url={spec.url!r} must be the server's base: /metadata is appended to it")
    return found


def build(spec: RouteSpec, common: Common) -> UnisDestination:
    from hdr_ingest.destinations.unis.client import UnisClient
    from hdr_ingest.destinations.unis.schemas import load

    option = str(spec.options.get("schema", DEFAULT_VERSION))
    client = UnisClient(spec.url, common.connect_timeout_s, pool_size=common.pool_size)
    return UnisDestination(spec.url, client, once(lambda: load(option)))
