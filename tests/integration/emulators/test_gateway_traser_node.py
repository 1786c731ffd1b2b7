"""The Gateway emulator judges with TRASER's own validator (Ajv 8 + ajv-formats through Node), not the function's.

``../shared/hdruk/traser-verdicts.json`` holds TRASER's verdict (d84e60a, run offline) for 44 example documents x 17
schemas = 748 pairs, with TRASER's first error where it reported one: the emulator must give the same verdict on
every pair and the same first error (Ajv's ``instancePath`` and message) wherever one is recorded. Because the
emulator shares no code with the function's judge, a regression there is refused end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack.gateway_emulator import App, GatewayEmulator, traser_node
from local_stack.gateway_emulator.traser_node import NodeTraser, TraserUnavailable
from local_stack.gateway_emulator.validation import SchemaTarget
from tests.conftest import PACK_DIR, ROOT, example, measured_document
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

APP = App("app-traser-node", "client-traser-node")
HEADERS = {"x-application-id": APP.app_id, "x-client-id": APP.client_id}


@pytest.fixture(scope="module")
def traser() -> Iterator[NodeTraser]:
    node = NodeTraser(PACK_DIR)
    node.start()
    yield node
    node.stop()


def _verdict(report: traser_node.TraserReport) -> dict[str, Any]:
    if report.hang:
        return {"verdict": "hang"}
    if report.valid:
        return {"verdict": "valid"}
    first = report.ajv_errors[0]
    return {"verdict": "invalid", "first_error": {"message": first["message"], "path": first["instancePath"]}}


def test_every_recorded_traser_verdict_and_first_error_is_reproduced(
    traser: NodeTraser, measured: dict[str, dict[str, dict[str, Any]]]
) -> None:
    pairs = agree = 0
    disagreements = []
    for name, per_schema in measured.items():
        document = measured_document(name)
        for schema, recorded in per_schema.items():
            pairs += 1
            ours = _verdict(traser.validate(json.loads(json.dumps(document)), SchemaTarget(*schema.split(" "))))
            if "first_error" not in recorded:
                ours.pop("first_error", None)
            if ours == recorded:
                agree += 1
            else:
                disagreements.append((name, schema, recorded, ours))
    print(f"\nagreement with TRASER: {agree}/{pairs} (document, schema) pairs, first errors included")
    assert pairs == 748 and disagreements == []


def test_detection_takes_the_first_match_in_available_json_order_and_hangs_with_traser(
    traser: NodeTraser, measured: dict[str, dict[str, dict[str, Any]]]
) -> None:
    order = [f"{ref.name} {ref.version}" for ref in traser.refs]
    for name, per_schema in measured.items():
        report = traser.validate(measured_document(name))
        verdicts = [per_schema[schema]["verdict"] for schema in order]
        if "hang" in verdicts:
            assert report.hang and not report.valid, name
            continue
        first = next((schema for schema, verdict in zip(order, verdicts, strict=True) if verdict == "valid"), None)
        assert (str(report.schema) if report.valid else None) == first, name


def test_a_hang_is_reported_and_the_worker_keeps_answering() -> None:
    node = NodeTraser(PACK_DIR, deadline=1.0)
    node.start()
    try:
        hung = node.validate(
            measured_document("gateway-api/hdruk_3p0p0_dataset_min.json#metadata"), SchemaTarget("HDRUK", "3.0.0")
        )
        after = node.validate(example("schemata/HDRUK/4.0.0/docs.example.json"), SchemaTarget("HDRUK", "4.0.0"))
    finally:
        node.stop()
    assert hung.hang and not hung.valid
    assert after.valid and not after.hang


def test_a_worker_that_died_is_replaced_by_the_next_request(traser: NodeTraser) -> None:
    process = traser._process
    assert process is not None
    process.kill()
    process.wait(timeout=60)
    report = traser.validate(example("schemata/HDRUK/4.0.0/docs.example.json"), SchemaTarget("HDRUK", "4.0.0"))
    assert report.valid and traser.running and traser._process is not process


def test_ajv_coerces_and_fills_defaults_in_the_document_it_returns(traser: NodeTraser) -> None:
    report = traser.validate(measured_document("schemata/CRUK/1.0.0/example.json"), SchemaTarget("CRUK", "1.0.0"))
    # useDefaults inserts leadResearcher: null, coerceTypes makes it "", minLength 2 fails (notes §(h)).
    assert not report.valid and report.document["summary"]["leadResearcher"] == ""
    assert (report.errors[0].path, report.ajv_errors[0]["keyword"]) == ("$.summary.leadResearcher", "minLength")


# --- Node or its packages missing: one clear line, no other judge -------------------------------------------


def test_without_node_the_emulator_refuses_to_start_naming_make_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_EMULATOR_NODE", "no-such-node-executable")
    emulator = GatewayEmulator(apps=[APP], validator=PACK_DIR)
    with pytest.raises(TraserUnavailable, match="make setup") as raised:
        emulator.start()
    assert "\n" not in str(raised.value) and "Node.js" in str(raised.value)
    assert not emulator._http.running  # nothing served


def test_without_the_npm_packages_the_emulator_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(traser_node, "NODE_DIR", tmp_path)
    with pytest.raises(TraserUnavailable, match=r"npm packages \(ajv, ajv-formats\) are not installed.*make setup"):
        NodeTraser(PACK_DIR).start()


def test_the_command_line_prints_one_line_and_exits_when_node_is_missing() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "local_stack.gateway_emulator",
            "--port",
            "0",
            "--app",
            "a:c",
            "--schemata",
            str(PACK_DIR),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/nonexistent", "PYTHONPATH": str(ROOT), "GATEWAY_EMULATOR_NODE": "node"},
        check=False,
    )
    assert completed.returncode == 2 and completed.stdout == ""
    (line,) = completed.stderr.strip().splitlines()
    assert "Node.js" in line and "make setup" in line


# --- a regression in the function's judge is caught end to end ---------------------------------------------


def test_a_judge_that_forgets_the_gateway_s_html_encoding_is_caught_by_the_emulator(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The function's judge made to forget that the integrations route HTML-encodes ``>``: it now passes
    ``"> 10 Years"`` and sends it. The emulator (its own clean-up, TRASER's Ajv) still refuses it, so the
    file ends REJECTED by the Gateway, not CREATED. Before the emulator had its own code it used the same
    function and would have created the dataset."""
    from hdr_ingest.destinations.hdruk.judge import preprocess

    monkeypatch.setattr(preprocess, "php_htmlentities", lambda value: value.strip(" \t\n\r\0\x0b"))
    document = example("schemata/HDRUK/4.0.0/docs.example.json")
    document["coverage"]["followUp"] = "> 10 Years"
    stack.drop_and_invoke("incoming/regression.json", document)
    item = stack.ledger("incoming/regression.json")
    assert [r.status for r in stack.emulator.requests() if r.method == "POST"] == [400]
    assert item["status"] == "REJECTED" and int(item["gateway_status"]) == 400, item["reason"]
    assert any("followUp" in error["path"] for error in item["errors"])
    assert stack.gateway_datasets() == []
