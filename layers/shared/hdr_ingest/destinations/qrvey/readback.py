"""Qrvey read-back: what Qrvey holds for our dataset, and what it should hold for the definition we sent.

``GET /user/{userId}/app/{appId}/qollect/dataset/{datasetId}`` answers the dataset object (qrvey/backend_sample
15ab6fe, ``lib/dataset.js``; ``test/unit/020_dataset_crud.js``): its ``name``, ``datasources``, ``columns`` and
``status``. Both sides are ``{"name", "datasources", "columns", "status"}``:

* ``name``: the file's name; the tag we add (``[<our key>:<digest>]``) is taken off what Qrvey holds when it is
  this source's (a dataset tagged with another key is not ours: MISSING).
* ``datasources`` and ``columns`` as sent (columns completed with the route's ``appId``/``userId``, as the create
  sends them), each kept to the fields seed 003 names (our schema's), so a field Qrvey adds of its own is not a
  difference. What it adds is not public. A ``datasourceId`` we made from our key for a datasource that had none
  is taken off what Qrvey holds (``expected`` does not know the key).
* ``status``: ``LOADED`` is what a published dataset shows. ``FAILED`` is held with that status, so the comparison
  shows ``$.status``; ``DRAFT`` and ``LOADING`` (a load under way) are UNKNOWN: read it again later.

Gone (404) is MISSING; a failure to answer (5xx, 429, a timeout) is UNKNOWN.
"""

from __future__ import annotations

from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.verification import Held, ReadBack
from hdr_ingest.destinations.qrvey.datasets import datasource_id_of, failure_reason, tag_of, untagged
from hdr_ingest.destinations.qrvey.judge import DATASET_SCHEMA

DATASOURCE_FIELDS = tuple(DATASET_SCHEMA["$defs"]["datasource"]["properties"])
COLUMN_FIELDS = tuple(DATASET_SCHEMA["$defs"]["column"]["properties"])
PUBLISHED = "LOADED"
UNSETTLED = ("DRAFT", "LOADING")


def expected(document: Any, columns: list[dict[str, Any]]) -> dict[str, Any]:
    """What Qrvey should hold for the definition ``document`` whose columns were sent as ``columns``."""
    name = document.get("name") if isinstance(document, dict) else None
    sources = document.get("datasources") if isinstance(document, dict) else None
    return {
        "name": name.strip() if isinstance(name, str) else name,
        "datasources": _kept(sources, DATASOURCE_FIELDS),
        "columns": _kept(columns, COLUMN_FIELDS),
        "status": PUBLISHED,
    }


def held(dataset_id: str, key: str, dataset: dict[str, Any] | Answer) -> ReadBack:
    """The answer to GET ``dataset_id`` (our dataset for ``key``) as a read-back."""
    if isinstance(dataset, Answer):
        if dataset.kind is AnswerKind.NOT_FOUND:
            return ReadBack(Held.MISSING, message=f"Qrvey has no dataset {dataset_id} (deleted)")
        return ReadBack(Held.UNKNOWN, message=f"reading Qrvey dataset {dataset_id} back failed: {dataset.message}")
    name = dataset.get("name")
    tag = tag_of(name)
    if tag is not None and tag[0] != key:
        return ReadBack(Held.MISSING, message=f"Qrvey dataset {dataset_id} is another source's ({tag[0]})")
    status = str(dataset.get("status") or "").upper()
    if status in UNSETTLED:
        return ReadBack(Held.UNKNOWN, message=f"Qrvey dataset {dataset_id} is {status}: a load is under way")
    sources = dataset.get("datasources")
    content = {
        "name": untagged(name) if tag is not None and isinstance(name, str) else name,
        "datasources": _ours_taken_off(_kept(sources, DATASOURCE_FIELDS), key),
        "columns": _kept(dataset.get("columns"), COLUMN_FIELDS),
        "status": status or None,
    }
    why = f": {failure_reason(dataset)}" if status == "FAILED" else ""
    return ReadBack(Held.HELD, content, f"Qrvey dataset {dataset_id} is {status or 'without a status'}{why}")


def _kept(items: Any, fields: tuple[str, ...]) -> Any:
    """Each object of the list ``items`` kept to ``fields``; anything else as it is."""
    if not isinstance(items, list):
        return items
    return [{k: v for k, v in item.items() if k in fields} if isinstance(item, dict) else item for item in items]


def _ours_taken_off(sources: Any, key: str) -> Any:
    """The datasources without the ``datasourceId`` we made for one that had none (:func:`datasource_id_of`)."""
    if not isinstance(sources, list):
        return sources
    return [
        {k: v for k, v in s.items() if not (k == "datasourceId" and v == datasource_id_of(key, i))}
        if isinstance(s, dict)
        else s
        for i, s in enumerate(sources)
    ]
