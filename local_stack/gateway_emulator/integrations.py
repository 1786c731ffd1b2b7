"""The deprecated ``/api/v1/integrations/datasets`` route's show, store, update, destroy and test: HDRUK/gateway-api
``app/Http/Controllers/Api/V1/IntegrationDatasetController.php``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .controllers import Controllers, output_schema
from .replies import App, _blank, _form_error, _no_model, _Reply


class IntegrationRoutes(Controllers):
    def _show(self, app: App, dataset_id: int, query: Mapping[str, str | None]) -> _Reply:
        """``show``: an id that never existed fails the form request's ``exists`` rule, 400 "The selected id is
        invalid." (notes §(a) error table, test:479); an archived one passes it but ``findOrFail`` misses it, 500
        (notes §(b) "After deletion, GET, PUT and DELETE on that id return 500"); another team's 500. The body has
        no ``versions``: ``show()`` does not eager-load them (notes §(a) "GET one", inferred)."""
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
        """``store``: ``metadata`` required (400 form error, notes §(a)), TRASER, then the 201 (see ``_create``).
        ``input_schema``/``input_version`` go to TRASER (aff3d89b5, notes §(a))."""
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
        """``update``: the full document every time; since GAT-7444 (14ad09e5c, 77c2d5cdd) the latest version row is
        overwritten in place and its ``version`` bumped (notes §(b)); unknown or archived id 500 (``findOrFail``),
        another team 500; 200 ``{"message":"success","data":<Dataset with versions>}`` (notes §(a) table). Not
        emulated: the ``{url, version}`` appended to ``metadata.required.revisions`` (notes §(b))."""
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
        """``destroy``: ``MMC::deleteDataset($id, true)``, a soft delete with ``status=ARCHIVED`` and every version
        soft-deleted (notes §(b)); ``?deletePermanently`` has no effect there, nor here; answer 200
        ``{"message":"success"}``."""
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
        """``datasetTest`` (notes §(a) "Test endpoint"): no permission check, ``input['metadata']`` sent to TRASER as
        its ``metadata``, so the document must be double-wrapped (inferred there); 200 ``{"message":"success",
        "payload_received":…}``. That a rejection's 400 also carries ``payload_received`` is the emulator's guess."""
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
