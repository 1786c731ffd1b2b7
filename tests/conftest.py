"""Shared test set-up: a quiet, offline Powertools and fake AWS credentials (nothing reaches AWS)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
EXAMPLES = SHARED / "hdruk" / "examples"
MEASURED = SHARED / "hdruk" / "traser-verdicts.json"  # TRASER's recorded verdicts per (document, schema)
PACK_DIR = ROOT / "layers" / "shared" / "hdr_ingest" / "destinations" / "hdruk" / "schemata"
EVENTS = ROOT / "events"

# Before any AWS client or Powertools object exists.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-2",
        "AWS_REGION": "eu-west-2",
        "POWERTOOLS_METRICS_NAMESPACE": "HdrGatewayIngestTest",
        "POWERTOOLS_SERVICE_NAME": "hdr-gateway-ingest",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("SCHEMA_PACK_DIR", str(PACK_DIR))


def qrvey_definition(**changes: Any) -> dict[str, Any]:
    """A Qrvey dataset definition (one SQL Server datasource, two columns), with ``changes`` on top."""
    document: dict[str, Any] = {
        "name": "Air quality",
        "datasources": [
            {
                "name": "Warehouse",
                "connectionId": "conn-1",
                "datasourceId": "ds-1",
                "database": "env",
                "tableName": "air_quality",
                "connectorType": "MSSQL_LIVE",
            }
        ],
        "columns": [{"columnName": "pm25", "columnType": "NUMBER"}, {"columnName": "site", "columnType": "TEXT"}],
    }
    document.update(changes)
    return document


def example(relative: str) -> dict[str, Any]:
    """An upstream example document, unwrapped from ``{"metadata": ...}`` where it is wrapped."""
    document = json.loads((EXAMPLES / relative).read_text(encoding="utf-8"))
    if isinstance(document, dict) and list(document) == ["metadata"]:
        return dict(document["metadata"])
    return dict(document)


def measured_document(name: str) -> Any:
    """The example a recorded verdict names: ``path`` or ``path#member`` (a member of a wrapping object)."""
    relative, _, member = name.partition("#")
    document = json.loads((EXAMPLES / relative).read_text(encoding="utf-8"))
    return document[member] if member else document


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, dict[str, Any]]]:
    """TRASER's recorded verdicts: document name -> schema -> verdict."""
    if not MEASURED.is_file():
        pytest.fail(f"{MEASURED} is missing: this test needs ../shared/hdruk beside the checkout")
    documents: dict[str, dict[str, dict[str, Any]]] = json.loads(MEASURED.read_text(encoding="utf-8"))["documents"]
    return documents


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def pack() -> Any:
    from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack

    if not (PACK_DIR / "available.json").is_file():
        pytest.fail("schema pack missing: run `make schemas` first")
    return SchemaPack.load(PACK_DIR)


@pytest.fixture(autouse=True)
def _local_destinations(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulators listen on 127.0.0.1 over plain http: allowed here as in the local stack, never by default."""
    monkeypatch.setenv("ALLOW_LOCAL_DESTINATIONS", "true")


@pytest.fixture(autouse=True)
def _fresh_powertools() -> Iterator[None]:
    from aws_lambda_powertools.utilities import parameters

    from hdr_ingest.entry.runtime import metrics, reset_runtime

    parameters.clear_caches()
    reset_runtime()
    yield
    metrics.clear_metrics()
    parameters.clear_caches()
    reset_runtime()
