"""``DatasetController`` (HDRUK/gateway-api ``app/Http/Controllers/Api/V1/DatasetController.php``): the successor
route ``/api/v1/datasets``, which takes the same app headers since GAT-7232/7233 (``shared/notes/hdruk-gateway.md``
(a) "Equivalent non-integration routes").

Its middleware (gateway-api ``config/routes.php``, the ``datasets`` entries): POST and PUT carry ``jwt.verify`` and
``check.access:permissions,datasets.create|update`` with ``//'sanitize.input'`` commented out, so text is trimmed and
``""`` becomes null (the global ``TrimStrings``/``ConvertEmptyStringsToNull``) but never HTML-encoded; PATCH and
DELETE carry ``jwt.verify`` and ``check.access`` (``datasets.update``/``datasets.delete``); GET ``/datasets`` and
GET ``/datasets/{id}`` carry neither (public). Every one of them carries the ``sunset`` middleware too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from .controllers import Controllers, output_schema
from .replies import _OTHER_TEAM, App, _blank, _error, _form_error, _Reply

# PHP reading a property of the null that ``Dataset::where(...)->first()`` gives for a missing (or, without
# ``withTrashed()``, archived) dataset: an Error, not an Exception, so the controller's catch misses it and the
# global handler answers 500 with its message (app/Exceptions/Handler.php::render).
_NULL_TEAM = 'Attempt to read property "team_id" on null'
_NULL_PID = 'Attempt to read property "pid" on null'


def _php_empty(value: Any) -> bool:
    """PHP ``empty()``: null, ``""``, ``"0"``, 0, false and empty arrays."""
    return value is None or value in ("", "0", 0, False) or value in ({}, [])


class DatasetRoutes(Controllers):
    def _v1_index(self, app: App | None, query: Mapping[str, str | None], path_url: str) -> _Reply:
        """``DatasetController::index``: the accessor's team (``getAccessorUserAndTeam``), ``?dataset_id=`` an
        exact match on the ``datasetid`` column, ``withTrashed``, ``status``; with ``with_metadata`` (default
        true) each item carries its latest version as ``latest_metadata`` (``with('latestMetadata')``), not the
        integrations route's ``versions``. Without app headers the team is unknown to the emulator: how the real
        ``getAccessorUserAndTeam`` answers an anonymous caller was not read, so every team is listed."""
        with_metadata = (query.get("with_metadata") or "1").lower() not in ("0", "false", "off", "no")
        team_id = app.team_id if app is not None else None
        return self._index(team_id, query, path_url, versions="latest_metadata" if with_metadata else None)

    def _v1_show(self, dataset_id: int, query: Mapping[str, str | None]) -> _Reply:
        """``DatasetController::show`` (public; notes §(a) "GET one" and §(i): 200, 401 or 404 in the SDK's
        ``DatasetsApi.md``): ``Dataset::find`` misses an archived (soft-deleted) dataset,
        answered 404 ``{"message":"Dataset not found"}``; otherwise the dataset with ``versions`` set to its latest
        version alone (``setAttribute('versions', [$withLinks])``), the version's relations and ``linkages``."""
        store = self._require_store()
        row = store.get(dataset_id)
        if row is None:
            return _Reply(404, {"message": "Dataset not found"})
        translated = output_schema(query)
        if translated is not None:
            return translated
        latest = store.latest_version(dataset_id)
        data = row.to_json()
        # The version's relations, empty here (the emulator keeps no tools, DURs, collections or publications);
        # the eager-loaded ``team`` relation is not emulated.
        for name in ("tools", "durs", "collections", "publications"):
            data[name], data[f"{name}_count"] = [], 0
        data.update({"spatialCoverage": [], "named_entities": [], "linkages": []})
        data["versions"] = [{**latest.to_json(), "linked_dataset_versions": []}] if latest else []
        return _Reply(200, {"message": "success", "data": data})

    def _v1_store(self, app: App, data: Mapping[str, Any], query: Mapping[str, str | None]) -> _Reply:
        """``DatasetController::store``: ``extractMetadata()``, then 400 ``Title is required to save a dataset``
        when ``metadata.metadata.summary.title`` is empty (PHP ``empty()``), then TRASER and the same 201 answer as
        the integrations route (notes §(a) "Equivalent non-integration routes"). The ``CreateDataset`` form
        request's rules were not read: ``metadata`` is taken to be required as on the integrations route."""
        if _blank(data.get("metadata")):
            return _form_error("metadata", "REQUIRED", "The metadata field is required.")
        document = self._extract(data)
        summary = document.get("summary") if isinstance(document, dict) else None
        if _php_empty(summary.get("title") if isinstance(summary, dict) else None):
            return _Reply(400, {"message": "Title is required to save a dataset"})
        rejected = self._translate(document, query)
        if rejected is not None:
            return rejected
        columns = self._columns(data)
        if isinstance(columns, _Reply):
            return columns
        return self._create(app, data, columns, document)

    def _v1_update(self, app: App, dataset_id: int, data: Mapping[str, Any], query: Mapping[str, str | None]) -> _Reply:
        """``DatasetController::update``: the team check reads ``Dataset::withTrashed()`` (401 for another team),
        the update itself ``Dataset::where`` (500 on an archived one); the latest version is overwritten in place
        (``MetadataVersioning::updateMetadataVersion``) and the answer is ``{"message":"success"}`` alone: "GET
        /dataset/{id} should be used to get the latest dataset and metadata" (the controller's comment)."""
        if _blank(data.get("metadata")):
            return _form_error("metadata", "REQUIRED", "The metadata field is required.")
        store = self._require_store()
        row = store.get(dataset_id, with_trashed=True)
        if row is None:
            return _error(500, _NULL_TEAM)
        if row.team_id != app.team_id:
            return _error(401, _OTHER_TEAM)
        if store.get(dataset_id) is None:
            return _error(500, _NULL_PID)
        document = self._extract(data)
        rejected = self._translate(document, query)
        if rejected is not None:
            if rejected.status == 400:  # this controller's message ends with a full stop
                rejected.body["message"] = "metadata is in an unknown format and cannot be processed."
            return rejected
        store.overwrite_latest_version(
            dataset_id,
            self._held(document),
            user_id=app.user_id,
            is_cohort_discovery=bool(data.get("is_cohort_discovery")),
        )
        return _Reply(200, {"message": "success"})

    def _v1_destroy(self, app: App, dataset_id: int) -> _Reply:
        """``DatasetController::destroy``: ``Dataset::where`` (an archived dataset is null: 500), 401 for another
        team, then ``MMC::deleteDataset($id, true)``: a soft delete, status ARCHIVED."""
        store = self._require_store()
        row = store.get(dataset_id)
        if row is None:
            return _error(500, _NULL_TEAM)
        if row.team_id != app.team_id:
            return _error(401, _OTHER_TEAM)
        store.archive(dataset_id)
        return _Reply(200, {"message": "success"})

    def _v1_patch(self, app: App, dataset_id: int, data: Mapping[str, Any], query: Mapping[str, str | None]) -> _Reply:
        """``PATCH /api/v1/datasets/{id}`` (``DatasetController::edit``; notes §(b) "To un-archive"): ``?unarchive``
        with ``{"status": "ACTIVE"|"DRAFT"}`` restores an archived dataset; a plain PATCH changes only the status of a
        non-archived one. The words of its 400 (archived) and 500 (unknown status) are not in the notes: unchecked."""
        store = self._require_store()
        status = data.get("status")
        if "unarchive" in query:
            row = store.get(dataset_id, with_trashed=True)
            if row is None:
                return _error(500, _NULL_TEAM)
            denied = self._check_team(app, row, status=401)
            if denied is not None:
                return denied
            if status != "ARCHIVED":
                if status not in ("ACTIVE", "DRAFT"):
                    return _error(500, "unknown status type")
                store.restore(dataset_id, cast(str, status))
            return _Reply(200, {"message": "success"})
        row = store.get(dataset_id)
        if row is None:
            return _error(500, _NULL_TEAM)
        denied = self._check_team(app, row, status=401)
        if denied is not None:
            return denied
        if row.status == "ARCHIVED":
            return _Reply(400, {"message": "status of an archived Dataset cannot be modified"})
        if status not in ("ACTIVE", "DRAFT"):
            return _error(500, "unknown status type")
        store.set_status(dataset_id, cast(str, status))
        return _Reply(200, {"message": "success"})
