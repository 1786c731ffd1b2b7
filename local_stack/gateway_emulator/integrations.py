"""The deprecated ``/api/v1/integrations/datasets`` route's show, store, update, destroy and test: HDRUK/gateway-api
``app/Http/Controllers/Api/V1/IntegrationDatasetController.php``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .controllers import Controllers, output_schema
from .replies import App, _blank, _form_error, _no_model, _Reply


class IntegrationRoutes(Controllers):
    def _show(self, app: App, dataset_id: int, query: Mapping[str, str | None]) -> _Reply:
        store = self._require_store()
        if store.get(dataset_id, with_trashed=True) is None:
            return _form_error("id", "EXISTS", "The selected id is invalid.")
        row = store.get(dataset_id)
        if row is None:
            return _no_model(dataset_id)
        denied = self._check_team(app, row)
        if denied is not None:
            return denied
        translated = output_schema(query)
        if translated is not None:
            return translated
        data = row.to_json()
        # show() does not eager-load versions; it injects these three accessors instead.
        data.update({"publications": [], "named_entities": [], "collections": []})
        return _Reply(200, {"message": "success", "data": data})

    def _store_dataset(self, app: App, data: Mapping[str, Any], query: Mapping[str, str | None]) -> _Reply:
        if _blank(data.get("metadata")):
            return _form_error("metadata", "REQUIRED", "The metadata field is required.")
        document = self._extract(data)
        rejected = self._translate(document, query)
        if rejected is not None:
            return rejected
        columns = self._columns(data)
        if isinstance(columns, _Reply):
            return columns
        return self._create(app, data, columns, document)

    def _update(self, app: App, dataset_id: int, data: Mapping[str, Any], query: Mapping[str, str | None]) -> _Reply:
        if _blank(data.get("metadata")):
            return _form_error("metadata", "REQUIRED", "The metadata field is required.")
        store = self._require_store()
        row = store.get(dataset_id)
        if row is None:
            return _no_model(dataset_id)
        denied = self._check_team(app, row)
        if denied is not None:
            return denied
        document = self._extract(data)
        rejected = self._translate(document, query)
        if rejected is not None:
            return rejected
        store.overwrite_latest_version(
            dataset_id,
            self._held(document),
            user_id=app.user_id,
            is_cohort_discovery=bool(data.get("is_cohort_discovery")),
        )
        updated = store.get(dataset_id)
        assert updated is not None
        payload = updated.to_json()
        payload["versions"] = [version.to_json() for version in store.versions(dataset_id, with_trashed=False)]
        return _Reply(200, {"message": "success", "data": payload})

    def _destroy(self, app: App, dataset_id: int) -> _Reply:
        store = self._require_store()
        row = store.get(dataset_id)
        if row is None:
            return _no_model(dataset_id)
        denied = self._check_team(app, row)
        if denied is not None:
            return denied
        store.archive(dataset_id)
        return _Reply(200, {"message": "success"})

    def _test(self, data: Mapping[str, Any]) -> _Reply:
        if _blank(data.get("metadata")):
            return _form_error("metadata", "REQUIRED", "The metadata field is required.")
        outer = data.get("metadata")
        document = outer.get("metadata") if isinstance(outer, dict) else None
        rejected = self._translate(document, {})
        if rejected is not None:
            if rejected.status == 400:
                rejected.body["payload_received"] = dict(data)
            return rejected
        return _Reply(200, {"message": "success", "payload_received": dict(data)})
