"""An ``aep`` route: ``{"prefix": ..., "kind": "aep", "url": "https://platform.adobe.io", "secret": "<secret id>",
"options": {"imsUrl": "https://ims-na1.adobelogin.com", "orgId": "...@AdobeOrg", "sandbox": "prod",
"schemaId": "https://ns.adobe.com/<tenant>/schemas/<id>", "datasetName": "..."}}``. The secret holds
``{"client_id", "client_secret", "scope"}``."""

from __future__ import annotations

from urllib.parse import urlsplit

from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.urls import url_problem
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
    ims = spec.options.get("imsUrl")
    problem = _ims_problem(ims, spec.url)
    if problem:
        found.append(f"{where}: options.imsUrl={ims!r} {problem}")
    for name in ("orgId", "sandbox", "schemaId", "datasetName"):
        value = spec.options.get(name)
        if not isinstance(value, str) or not value.strip():
            found.append(f"{where}: options.{name} is required (a non-empty string)")
    for name in ("orgId", "sandbox"):
        value = spec.options.get(name)
        if isinstance(value, str) and not value.isprintable():
            found.append(f"{where}: options.{name} holds a line break or control character (it is sent as a header)")
    sandbox = spec.options.get("sandbox")
    if isinstance(sandbox, str) and sandbox != sandbox.lower():
        found.append(f"{where}: options.sandbox={sandbox!r} must be lower case (x-sandbox-name)")
    org = spec.options.get("orgId")
    if isinstance(org, str) and org.strip() and not org.endswith("@AdobeOrg"):
        found.append(f"{where}: options.orgId={org!r} must be an IMS organisation id ending in @AdobeOrg")
    return found


def _ims_problem(ims: object, platform_url: str) -> str | None:
    """The client secret is sent to IMS: the checks of every route url (``url_problem``: https, a real port, no
    user-info, no loopback/private/link-local host unless local destinations are allowed), and plain http only
    beside an http Platform url on the same host (an emulator). Local hosts are allowed for IMS exactly when the
    route's own url is one: that url passed the same check, so it can be local only with
    ALLOW_LOCAL_DESTINATIONS=true."""
    if not isinstance(ims, str):
        return "must be the IMS base URL, such as https://ims-na1.adobelogin.com"
    allow_local = url_problem(platform_url, allow_local=False) is not None
    problem = url_problem(ims, allow_local)
    if problem:
        return problem
    parts, platform = urlsplit(ims), urlsplit(platform_url)
    if parts.scheme == "http" and (platform.scheme != "http" or platform.hostname != parts.hostname):
        return "must be https (plain http only for an emulator on the Platform url's host)"
    return None


def build(spec: RouteSpec, common: Common) -> AepDestination:
    from hdr_ingest.destinations.aep.client import AepClient, Platform

    options = spec.options
    platform = Platform(spec.url, str(options["imsUrl"]), str(options["orgId"]), str(options["sandbox"]))
    client = AepClient(platform, common.connect_timeout_s, pool_size=common.pool_size)
    aep_options = AepOptions(
        str(options["orgId"]), str(options["sandbox"]), str(options["schemaId"]), str(options["datasetName"])
    )
    return AepDestination(spec.url, client, aep_options)
