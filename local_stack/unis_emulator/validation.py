"""UNIS's own schema files, used as UNIS uses them: ``jsonschema`` on the collection's metadata schema, which
refers to the link schema for ``subject``; only the best error's message is reported, as UNIS's model does (its
``_validate`` in ``periscope/models.py`` raises the first error ``jsonschema`` gives, which the POST handler pastes
after "Not valid body - "; ``shared/notes/destinations.md`` §1, §5).

The files are periscope-ps/unis's ``periscope/schemas/metadata`` and ``links`` (2015: 7c9a9d2, draft-04; 2012:
44e7750, draft-03, the version seed 002 names; ``shared/destinations/SOURCES.md``). The real server validates against
``…/schema/20160630/metadata#``, which it fetches at start-up and which is not in its repository (notes §5): the
20151104 file stands in for it, so what 20160630 changed is unknown here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jsonschema import Draft3Validator, Draft4Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT3, DRAFT4

_REPO_ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "2015": ("metadata-20151104.json", "links-draft04.json"),
    "2012": ("metadata-20120709.json", "links-draft03.json"),
}


def schema_dir() -> Path:
    """``$UNIS_SCHEMA_DIR``, else the copy ``make schemas`` puts in the UNIS destination package."""
    configured = os.environ.get("UNIS_SCHEMA_DIR")
    return Path(configured) if configured else _REPO_ROOT / "layers/shared/hdr_ingest/destinations/unis/schemas"


class MetadataSchema:
    def __init__(self, version: str = "2015", directory: Path | None = None) -> None:
        if version not in FILES:
            raise ValueError(f"schema must be one of {sorted(FILES)}")
        folder = directory or schema_dir()
        metadata_file, links_file = FILES[version]
        try:
            self.metadata = json.loads((folder / metadata_file).read_text())
            links = json.loads((folder / links_file).read_text())
        except OSError as exc:
            raise RuntimeError(f"UNIS schema files missing in {folder}: run `make schemas`") from exc
        spec, cls = (DRAFT4, Draft4Validator) if version == "2015" else (DRAFT3, Draft3Validator)
        hyper = (
            "http://json-schema.org/draft-04/hyper-schema"
            if version == "2015"
            else "http://json-schema.org/draft-03/hyper-schema"
        )
        registry: Registry[Any] = Registry().with_resources(
            [
                (self.metadata["id"].rstrip("#"), spec.create_resource(self.metadata)),
                (links["id"].rstrip("#"), spec.create_resource(links)),
                (hyper, spec.create_resource({})),
            ]
        )
        self.uri: str = self.metadata["id"]
        self._validator = cls(self.metadata, registry=registry)

    def first_error(self, document: Any) -> str | None:
        """The message UNIS reports (jsonschema's best match), or None when the document is valid."""
        error = best_match(self._validator.iter_errors(document))
        return None if error is None else error.message
