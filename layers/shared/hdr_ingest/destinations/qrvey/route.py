"""A ``qrvey`` route: ``{"prefix": ..., "kind": "qrvey", "url": "<instance>/devapi/v4", "secret": "<secret id>",
"options": {"userId": ..., "appId": ..., "createPath"?: ..., "onChange"?: "reject" | "recreate",
"columnTypes"?: [...]}}``; the secret holds ``{"api_key": ...}`` (README "Destinations")."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.qrvey.destination import ON_CHANGE, QrveyDestination

OPTIONS = ("userId", "appId", "createPath", "onChange", "columnTypes")
API_SUFFIX = "/devapi/v4"


def problems(spec: RouteSpec) -> list[str]:
    where = f"route {spec.prefix!r} (qrvey)"
    found: list[str] = []
    parts = urlsplit(spec.url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.rstrip("/").endswith(API_SUFFIX):
        found.append(f"{where}: url={spec.url!r} must be the instance's API base, https://<instance>{API_SUFFIX}")
    if not spec.secret:
        found.append(f'{where}: needs a secret holding {{"api_key": "<the Qrvey instance\'s API key>"}}')
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        found.append(f"{where}: unknown options {unknown}; a qrvey route takes {list(OPTIONS)}")
    for name in ("userId", "appId"):
        value = spec.options.get(name)
        if not _id(value):
            what = "user" if name == "userId" else "application"
            found.append(f"{where}: option {name}={value!r} must be the id of the Qrvey {what} to publish as/into")
    create_path = spec.options.get("createPath")
    if create_path is not None and (not isinstance(create_path, str) or not create_path.startswith("/")):
        found.append(
            f"{where}: option createPath={create_path!r} must be a path under the url starting with '/', "
            "e.g. /user/{userId}/app/{appId}/qollect/dataset"
        )
    on_change = spec.options.get("onChange", "reject")
    if on_change not in ON_CHANGE:
        found.append(f"{where}: option onChange={on_change!r} must be 'reject' or 'recreate'")
    types = spec.options.get("columnTypes")
    if types is not None and (not isinstance(types, list) or not types or not all(_id(t) for t in types)):
        found.append(f"{where}: option columnTypes={types!r} must be a non-empty list of column type names")
    return found


def _id(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and "/" not in value


def build(spec: RouteSpec, common: Common) -> QrveyDestination:
    from hdr_ingest.destinations.qrvey.client import QrveyClient

    options = spec.options
    return QrveyDestination(
        spec.url,
        QrveyClient(spec.url, common.connect_timeout_s, pool_size=common.pool_size),
        user_id=str(options["userId"]).strip(),
        app_id=str(options["appId"]).strip(),
        create_path=options.get("createPath"),
        on_change=str(options.get("onChange", "reject")),
        column_types=list(options["columnTypes"]) if options.get("columnTypes") else None,
    )
