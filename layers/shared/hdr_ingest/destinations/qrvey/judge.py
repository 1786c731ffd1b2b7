"""Our JSON Schema of a Qrvey dataset definition, and the judge that checks a document against it.

Written from seed 003 (partner-portal ``create-a-dataset-via-api.md``: ``name``, ``datasources[]`` with ``name``,
``connectionId``, ``datasourceId``, ``database``, ``tableName``, ``connectorType``, and ``columns[]`` with
``appId``, ``connectionId``, ``columnType``, ``columnName``, ``userId``, ``origColumnType``) and Qrvey's API sample
(``qrvey/backend_sample``: a datasource names a table or, instead, a ``query``). Qrvey publishes no machine-readable
schema, so the lists of connector and column types are ours: a connector type is an upper-case identifier such as
``MSSQL_LIVE`` or ``MYSQL_LIVE``, and the column types are :data:`COLUMN_TYPES` unless a route names its own.

``x-fix`` (our keyword, ignored by validators) is the advice given when the rule beside it fails.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from itertools import islice
from typing import Any

from hdr_ingest.core import fix_messages
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Verdict
from hdr_ingest.destinations.jsonschema_errors import json_path

TARGET = "Qrvey dataset definition 1"
MAX_ERRORS = 1000  # listed per document; beyond, one more line says there are more (memory stays bounded)
# Seed 003 shows NUMBER; the others are the kinds of column Qrvey Composer offers (unconfirmed spellings: a route's
# ``columnTypes`` option replaces the list).
COLUMN_TYPES: tuple[str, ...] = ("TEXT", "NUMBER", "DATE", "DATETIME", "BOOLEAN", "IMAGE", "OBJECT", "ARRAY")
CONNECTOR_TYPE = r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$"
_ID = {"type": "string", "pattern": r"\S", "x-fix": "a Qrvey id, copied from Qrvey"}

DATASET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:hdr-gateway-ingest:qrvey:dataset-definition:1",
    "title": "Qrvey dataset definition (Create Dataset body)",
    "type": "object",
    "required": ["name", "datasources", "columns"],
    "properties": {
        "name": {
            "type": "string",
            "maxLength": 200,
            "pattern": r"\S",
            "x-fix": 'the dataset\'s name as Qrvey shows it, e.g. "Air quality 2024"',
        },
        "description": {"type": "string"},
        "datasources": {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/$defs/datasource"},
            "x-fix": "a list of at least one data source (the connection and table the dataset reads)",
        },
        "columns": {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/$defs/column"},
            "x-fix": "a list of at least one column (columnName and columnType)",
        },
        "dataSync": {"type": "object"},
        "datasetId": {"not": {}, "x-fix": "Qrvey makes the datasetId: remove it from the file"},
    },
    "$defs": {
        "datasource": {
            "type": "object",
            "required": ["name", "connectionId", "connectorType"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "x-fix": "the name of the connection"},
                "connectionId": {**_ID, "x-fix": "the id of the Qrvey connection the dataset reads"},
                "datasourceId": {**_ID, "x-fix": "any UUID, different for each data source of this dataset"},
                "database": {"type": "string", "minLength": 1, "x-fix": "a database that exists in the connection"},
                "tableName": {"type": "string", "minLength": 1, "x-fix": "a table or view that exists in the database"},
                "query": {"type": "string", "minLength": 1, "x-fix": "a SQL query, instead of tableName"},
                "connectorType": {
                    "type": "string",
                    "pattern": CONNECTOR_TYPE,
                    "x-fix": "the connection's type as Qrvey names it, in capitals, e.g. MSSQL_LIVE or MYSQL_LIVE",
                },
            },
            "anyOf": [{"required": ["tableName"]}, {"required": ["query"]}],
            "x-fix-anyOf": "names no table: add tableName (a table or view in the database) or query (a SQL query).",
        },
        "column": {
            "type": "object",
            "required": ["columnName", "columnType"],
            "properties": {
                "columnName": {"type": "string", "minLength": 1, "x-fix": "the column's name in the table"},
                "columnType": {"type": "string", "enum": list(COLUMN_TYPES)},
                "origColumnType": {"type": "string", "enum": list(COLUMN_TYPES)},
                "appId": {**_ID, "x-fix": "the route's appId (or leave it out: it is filled in)"},
                "userId": {**_ID, "x-fix": "the route's userId (or leave it out: it is filled in)"},
                "connectionId": {**_ID, "x-fix": "the connectionId of one of the datasources"},
            },
        },
    },
}


def schema_for(column_types: Sequence[str] | None = None) -> dict[str, Any]:
    """The schema, with a route's own list of column types when it names one."""
    if not column_types:
        return DATASET_SCHEMA
    schema = copy.deepcopy(DATASET_SCHEMA)
    for name in ("columnType", "origColumnType"):
        schema["$defs"]["column"]["properties"][name]["enum"] = list(column_types)
    return schema


class DatasetJudge:
    """Checks a dataset definition against :data:`DATASET_SCHEMA` and what the route knows (its appId and userId),
    every error with its JSON path and what to do."""

    def __init__(
        self, app_id: str | None = None, user_id: str | None = None, column_types: Sequence[str] | None = None
    ) -> None:
        """Without ``app_id``/``user_id`` (``hdr-ingest validate --kind qrvey`` with no route) columns' ids are
        not compared with a route's."""
        from jsonschema import Draft202012Validator

        self.app_id = app_id
        self.user_id = user_id
        self.schema = schema_for(column_types)
        self.validator = Draft202012Validator(self.schema)

    def judge(self, document: Any) -> Verdict:
        errors = [*self._schema_errors(document), *self._consistency(document)]
        if len(errors) > MAX_ERRORS:
            errors = [
                *errors[:MAX_ERRORS],
                ErrorDetail("$", f"has more errors than the first {MAX_ERRORS} listed; fix these and check it again."),
            ]
        if not errors:
            return Verdict(True, f"is valid against the {TARGET}", target=TARGET)
        noun = "error" if len(errors) == 1 else "errors"
        return Verdict(False, f"has {len(errors)} {noun} against the {TARGET}", tuple(errors), TARGET)

    def _schema_errors(self, document: Any) -> list[ErrorDetail]:
        # Only the first MAX_ERRORS + 1 are ever made: each holds its path and context, and a large invalid
        # definition can break a rule in every column (issue 26: ~600 MB for a 10 MB file when all were kept).
        errors = islice(self.validator.iter_errors(document), MAX_ERRORS + 1)
        found = sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), str(e.validator)))
        return [_detail(error) for error in found]

    def _consistency(self, document: Any) -> list[ErrorDetail]:
        """What a schema cannot say: unique ids and names, and columns that match the route and the datasources."""
        if not isinstance(document, dict):
            return []
        sources = [s for s in _list(document.get("datasources")) if isinstance(s, dict)]
        columns = _list(document.get("columns"))
        out = _repeats(document.get("datasources"), "datasourceId", "datasources", "a data source id of this dataset")
        out += _repeats(document.get("columns"), "columnName", "columns", "a column name of this dataset")
        connections = {str(s["connectionId"]) for s in sources if isinstance(s.get("connectionId"), str)}
        for index, column in enumerate(columns):
            if len(out) > MAX_ERRORS:
                break
            if not isinstance(column, dict):
                continue
            where = f"$.columns[{index}]"
            for field, expected in (("appId", self.app_id), ("userId", self.user_id)):
                value = column.get(field)
                if expected is not None and isinstance(value, str) and value != expected:
                    out.append(
                        ErrorDetail(
                            f"{where}.{field}",
                            f"is {fix_messages.show(value)}, but this route publishes as {field} "
                            f"{fix_messages.show(expected)}; set it to that or leave it out.",
                        )
                    )
            connection = column.get("connectionId")
            if isinstance(connection, str) and connections and connection not in connections:
                out.append(
                    ErrorDetail(
                        f"{where}.connectionId",
                        f"is {fix_messages.show(connection)}, which no datasource uses; use one of "
                        f"{', '.join(fix_messages.show(c) for c in sorted(connections))}.",
                    )
                )
        return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _repeats(items: Any, field: str, array: str, what: str) -> list[ErrorDetail]:
    values = [(i, item.get(field)) for i, item in enumerate(_list(items)) if isinstance(item, dict)]
    counts = Counter(v for _, v in values if isinstance(v, str))
    seen: set[str] = set()
    out: list[ErrorDetail] = []
    for index, value in values:
        if isinstance(value, str) and counts[value] > 1:
            if value in seen:
                out.append(
                    ErrorDetail(
                        f"$.{array}[{index}].{field}",
                        f"repeats {fix_messages.show(value)}; {what} must be unique: rename one of them.",
                    )
                )
            seen.add(value)
    return out


def _detail(error: Any) -> ErrorDetail:
    """One jsonschema error: its path (the missing field's own path for ``required``) and the fix."""
    path = list(error.absolute_path)
    schema, keyword, value = error.schema, error.validator, error.instance
    hint = schema.get("x-fix") if isinstance(schema, dict) else None
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(error.message)
        field_hint = (schema.get("properties", {}).get(missing) or {}).get("x-fix")
        text = fix_messages.MISSING[:-1] + (f": {field_hint}." if field_hint else ".")
        return ErrorDetail(json_path([*path, missing]), text)
    if keyword == "anyOf" and isinstance(schema, dict) and "x-fix-anyOf" in schema:
        return ErrorDetail(json_path(path), str(schema["x-fix-anyOf"]))
    if keyword == "not":
        return ErrorDetail(json_path(path), f"{hint}." if hint else "is not allowed here; remove it.")
    text = _keyword_message(keyword, value, error.validator_value)
    if hint and keyword in ("pattern", "type", "minLength", "minItems"):
        text = f"{text[:-1]}: {hint}."
    return ErrorDetail(json_path(path), text)


def _keyword_message(keyword: str, value: Any, rule: Any) -> str:
    if keyword == "enum":
        return fix_messages.one_of(value, rule)
    if keyword == "type":
        return fix_messages.of_type(value, [rule] if isinstance(rule, str) else list(rule))
    if keyword == "pattern":
        if rule == r"\S":
            return f"is {fix_messages.show(value)}; it must not be blank."
        return fix_messages.matching(value, rule)
    if keyword in ("minLength", "maxLength"):
        return fix_messages.of_length(value, keyword, rule)
    if keyword in ("minItems", "maxItems"):
        return fix_messages.with_items(value, keyword, rule)
    return f"is {fix_messages.show(value)}; it breaks the rule {keyword}={fix_messages.show(rule)}."
