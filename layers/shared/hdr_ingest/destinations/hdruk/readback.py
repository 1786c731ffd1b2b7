"""HDR UK read-back: what the Gateway holds for our dataset, and what it should hold for the document we sent.

``GET /api/v1/datasets/{id}`` (HDRUK/gateway-api ``DatasetController::show``; public) answers
``{"message":"success","data":<the dataset>}`` with ``data.versions`` set to its latest version alone. A version's
``metadata`` is ``{"gwdmVersion", "metadata": <TRASER's GWDM translation>, "original_metadata": <the document as
the Gateway received it>}`` (``app/Http/Traits/MetadataVersioning.php``). The read-back compares
``original_metadata``: the GWDM translation is the Gateway's own rewriting. An archived dataset is soft-deleted,
so ``Dataset::find`` misses it: 404 ``{"message":"Dataset not found"}``.

What the Gateway receives is the document after its request clean-up: every string trimmed and ``""`` -> null
(``TrimStrings``, ``ConvertEmptyStringsToNull``) on both routes, HTML-encoded (``sanitize.input``) on the
integrations route only, and re-encoded the PHP way (``{}`` -> ``[]``) when it is stored.
"""

from __future__ import annotations

from typing import Any

from hdr_ingest.core.document import compact_json
from hdr_ingest.core.verification import Held, ReadBack
from hdr_ingest.destinations.hdruk.options import Api
from hdr_ingest.destinations.http import json_value

_TRANSIENT = (408, 425, 429)


def expected(document: Any, api: Api) -> Any:
    """What the Gateway should hold as ``original_metadata`` for ``document`` sent through ``api``: the clean-up
    applied where the judge's probe finds a value it changes (the rest shared with ``document``), or over every
    value when jsonschema-rs cannot say (the same result: ``judge.cleanup.cleaned``)."""
    # Imported here: the judge package costs a cold start about 35 ms, and only a read-back needs this.
    from hdr_ingest.destinations.hdruk.judge.cleanup import cleaned
    from hdr_ingest.destinations.hdruk.judge.preprocess import gateway_preprocess
    from hdr_ingest.destinations.jsonschema_rust import engine

    html_entities = api is Api.INTEGRATIONS
    rust = engine()
    found = cleaned(document, rust, html_entities=html_entities, text=compact_json(document).decode()) if rust else None
    if found is not None:
        return found[0]
    return gateway_preprocess(document, html_entities=html_entities, php_arrays=True)


def held(status: int, raw: bytes, complete: bool, dataset_id: int) -> ReadBack:
    """The answer to ``GET /datasets/{dataset_id}`` as a read-back: HELD with the received document, MISSING
    when the dataset is gone, archived or not ACTIVE, UNKNOWN when the answer says nothing either way."""
    if status == 404:
        return ReadBack(Held.MISSING, message=f"the Gateway has no live dataset {dataset_id} (archived or deleted)")
    if not 200 <= status < 300:
        why = "failed for now" if status >= 500 or status in _TRANSIENT else "was refused"
        return ReadBack(Held.UNKNOWN, message=f"reading dataset {dataset_id} back {why} (HTTP {status})")
    if not complete:
        return ReadBack(Held.UNKNOWN, message=f"the Gateway's answer for dataset {dataset_id} is over the size cap")
    body = _json(raw)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return ReadBack(Held.UNKNOWN, message=f"the Gateway's answer for dataset {dataset_id} holds no dataset")
    state = data.get("status")
    if data.get("deleted_at") is not None or state != "ACTIVE":
        return ReadBack(Held.MISSING, message=f"dataset {dataset_id} is {state or 'deleted'}, not ACTIVE")
    version = latest_version(data)
    metadata = version.get("metadata") if version else None
    if isinstance(metadata, str):  # a JSON column the model does not cast
        metadata = _json(metadata.encode("utf-8"))
    if not isinstance(metadata, dict) or "original_metadata" not in metadata:
        return ReadBack(Held.MISSING, message=f"dataset {dataset_id} holds no metadata version")
    number = version.get("version") if version else None
    return ReadBack(Held.HELD, metadata["original_metadata"], f"dataset {dataset_id} version {number}, ACTIVE")


def latest_version(data: dict[str, Any]) -> dict[str, Any] | None:
    """The version ``show`` sets (the latest), or the highest-numbered one listed."""
    versions = data.get("versions")
    listed = [v for v in versions if isinstance(v, dict)] if isinstance(versions, list) else []
    numbered = [v for v in listed if type(v.get("version")) is int]
    return max(numbered, key=lambda v: int(v["version"])) if numbered else None


def shown_version(raw: bytes) -> int | None:
    """The latest version number in a ``GET /datasets/{id}`` answer (None when it cannot be read)."""
    body = _json(raw)
    data = body.get("data") if isinstance(body, dict) else None
    version = latest_version(data) if isinstance(data, dict) else None
    number = version.get("version") if version else None
    return number if type(number) is int and number > 0 else None


def _json(raw: bytes) -> Any:
    try:
        return json_value(raw)
    except ValueError:
        return None
