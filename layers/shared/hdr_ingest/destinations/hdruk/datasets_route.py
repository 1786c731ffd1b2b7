"""What the successor route ``/api/v1/datasets`` answers differently from the integrations route
(HDRUK/gateway-api ``app/Http/Controllers/Api/V1/DatasetController.php``), in the integrations route's terms so
the rest of the client reads both alike.

* ``update`` answers ``{"message":"success"}`` alone (no dataset, no version).
* ``index`` lists each dataset with its latest version under ``latest_metadata`` (``with('latestMetadata')``),
  not all of them under ``versions``.
* ``update`` and ``destroy`` read the dataset with ``Dataset::where(...)->first()``: an archived (soft-deleted)
  or unknown dataset is null, and reading its property is a PHP Error the global handler answers as 500
  ``Attempt to read property "..." on null``: the dataset is no longer there.
* When the integrations route itself is gone (404 or 410), the operator's way on is this route.
"""

from __future__ import annotations

from dataclasses import replace

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.document import compact_json
from hdr_ingest.destinations.http import json_value

_NULL_READ = "on null"
REMOVED = (404, 410)
MOVE_ON = (
    'set the route\'s option "api": "datasets" to publish through /api/v1/datasets (same app headers; '
    "text is no longer HTML-encoded)"
)


def not_there(answer: Answer) -> Answer:
    """A 500 ``Attempt to read property "..." on null`` from update or destroy: the dataset is archived or
    gone (NOT_FOUND, as the integrations route's ``No query results for model`` is)."""
    if answer.http_status == 500 and _NULL_READ in answer.message and answer.kind is AnswerKind.TRANSIENT:
        return replace(
            answer,
            kind=AnswerKind.NOT_FOUND,
            message=f"The Gateway no longer has this dataset (archived or deleted): {answer.message}",
            retry_after_s=None,
        )
    return answer


def as_versions(raw: bytes) -> bytes:
    """A ``/datasets`` listing with each item's ``latest_metadata`` also under ``versions`` (what the lookup
    of the integrations route reads); anything else unchanged."""
    try:
        body = json_value(raw)
    except ValueError:
        return raw
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return raw
    for item in items:
        if isinstance(item, dict) and "versions" not in item and isinstance(item.get("latest_metadata"), dict):
            item["versions"] = [item["latest_metadata"]]
    return compact_json(body)


def removed_route(answer: Answer) -> Answer:
    """A 404 or 410 from the integrations route: the route is gone, and the message says where to go."""
    if answer.http_status not in REMOVED or answer.kind is AnswerKind.SUCCESS:
        return answer
    return replace(
        answer,
        kind=AnswerKind.PERMANENT,
        message=(
            f"The Gateway answered HTTP {answer.http_status} on /api/v1/integrations/datasets: the deprecated "
            f"route has been removed (its Sunset was 22 Jan 2026). To publish again, {MOVE_ON}."
        ),
    )
