"""UNIS's own metadata schemas (copied by ``make schemas``): the 2015 draft-04 one and the 2012 draft-03 one.

Each is validated with the link schema its ``subject`` refers to. The hyper-schemas the link schemas name for
``targetSchema`` and ``schema`` are not part of UNIS: they are read as "any schema" (UNIS fetches them from
json-schema.org at start-up), so a link's own keys are still checked.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator


class UnisSchemaError(Exception):
    """The schema files are missing or broken (a deployment problem, not a document problem)."""


@dataclass(frozen=True)
class SchemaVersion:
    option: str  # the route's ``schema`` option
    metadata_file: str
    links_file: str
    draft: str  # "draft-04" / "draft-03"

    @property
    def label(self) -> str:
        date = self.metadata_file.removeprefix("metadata-").removesuffix(".json")
        return f"UNIS metadata {date} ({self.draft})"


VERSIONS = {
    "2015": SchemaVersion("2015", "metadata-20151104.json", "links-draft04.json", "draft-04"),
    "2012": SchemaVersion("2012", "metadata-20120709.json", "links-draft03.json", "draft-03"),
}
DEFAULT_VERSION = "2015"


def default_schema_dir() -> Path:
    """``$UNIS_SCHEMA_DIR`` if set, else the copy shipped inside this package (filled by ``make schemas``)."""
    configured = os.environ.get("UNIS_SCHEMA_DIR")
    return Path(configured) if configured else Path(__file__).with_name("schemas")


def _load(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnisSchemaError(
            f"UNIS schema {path} is missing or unreadable ({type(exc).__name__}); run `make schemas` "
            "(or set UNIS_SCHEMA_DIR to a folder holding UNIS's schema files)"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise UnisSchemaError(f"UNIS schema {path} is not a JSON Schema with an id; run `make schemas` again")
    return data


@dataclass(frozen=True)
class UnisSchema:
    version: SchemaVersion
    metadata: dict[str, Any]
    links: dict[str, Any]

    @property
    def uri(self) -> str:
        """The metadata schema's id, as UNIS writes it in ``$schema``."""
        return str(self.metadata["id"])

    def validator(self, formats: bool = False) -> Validator:
        """UNIS's validation (formats are not asserted, as UNIS does not); ``formats``: with format checks."""
        return _validator(self, formats)


def load(option: str = DEFAULT_VERSION, directory: Path | None = None) -> UnisSchema:
    return _cached(option, directory or default_schema_dir())


@cache
def _cached(option: str, directory: Path) -> UnisSchema:
    version = VERSIONS[option]
    return UnisSchema(version, _load(directory, version.metadata_file), _load(directory, version.links_file))


_VALIDATORS: dict[tuple[int, bool], Any] = {}


def _validator(schema: UnisSchema, formats: bool) -> Validator:
    known = _VALIDATORS.get((id(schema), formats))
    if known is not None:
        return known
    from jsonschema import Draft3Validator, Draft4Validator, FormatChecker
    from referencing import Registry
    from referencing.jsonschema import DRAFT3, DRAFT4

    draft4 = schema.version.draft == "draft-04"
    spec, cls = (DRAFT4, Draft4Validator) if draft4 else (DRAFT3, Draft3Validator)
    meta = "http://json-schema.org/draft-04/" if draft4 else "http://json-schema.org/draft-03/"
    resources = [
        (_bare(schema.uri), spec.create_resource(schema.metadata)),
        (_bare(str(schema.links["id"])), spec.create_resource(schema.links)),
        (meta + "hyper-schema", spec.create_resource({})),  # any schema: see the module's docstring
    ]
    registry: Registry[Any] = Registry().with_resources(resources)
    checker = FormatChecker(["uri"]) if formats else None
    validator = cls(schema.metadata, registry=registry, format_checker=checker)
    _VALIDATORS[(id(schema), formats)] = validator
    return validator


def _bare(uri: str) -> str:
    return uri.rstrip("#")
