"""An ``aep`` route: ``{"prefix": ..., "kind": "aep", "url": "https://platform.adobe.io", "secret": "<secret id>",
"options": {"imsUrl": "https://ims-na1.adobelogin.com", "orgId": "...@AdobeOrg", "sandbox": "prod",
"schemaId": "https://ns.adobe.com/<tenant>/schemas/<id>", "datasetName": "..."}}``. The secret holds
``{"client_id", "client_secret", "scope"}``."""

from __future__ import annotations

from urllib.parse import urlsplit

from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.aep.destination import AepDestination, AepOptions

OPTIONS = ("imsUrl", "orgId", "sandbox", "schemaId", "datasetName")


def problems(spec: RouteSpec) -> list[str]:
    where = f"route {spec.prefix!r} (aep)"
    found: list[str] = []
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        found.append(f"{where}: unknown options {unknown}; an aep route takes {list(OPTIONS)}")
    if not spec.secret:
        found.append(f"{where}: needs a secret holding the Developer Console project's client_id, client_secret, scope")
    for name, value in (("url", spec.url), ("options.imsUrl", spec.options.get("imsUrl"))):
        if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            found.append(f"{where}: {name}={value!r} must be a base URL such as https://platform.adobe.io")
    for name in ("orgId", "sandbox", "schemaId", "datasetName"):
        value = spec.options.get(name)
        if not isinstance(value, str) or not value.strip():
            found.append(f"{where}: options.{name} is required (a non-empty string)")
    sandbox = spec.options.get("sandbox")
    if isinstance(sandbox, str) and sandbox != sandbox.lower():
        found.append(f"{where}: options.sandbox={sandbox!r} must be lower case (x-sandbox-name)")
    org = spec.options.get("orgId")
    if isinstance(org, str) and org.strip() and not org.endswith("@AdobeOrg"):
        found.append(f"{where}: options.orgId={org!r} must be an IMS organisation id ending in @AdobeOrg")
    return found


def build(spec: RouteSpec, common: Common) -> AepDestination:
    from hdr_ingest.destinations.aep.client import AepClient, Platform

    options = spec.options
    platform = Platform(spec.url, str(options["imsUrl"]), str(options["orgId"]), str(options["sandbox"]))
    client = AepClient(platform, common.connect_timeout_s, pool_size=common.pool_size)
    aep_options = AepOptions(
        str(options["orgId"]), str(options["sandbox"]), str(options["schemaId"]), str(options["datasetName"])
    )
    return AepDestination(spec.url, client, aep_options)
