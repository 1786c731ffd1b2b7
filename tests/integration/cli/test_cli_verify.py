"""`hdr-ingest verify` (issue 22 item 2): every published record of the ledger read back from its catalogue (the
HDR UK Gateway emulator over HTTP, AWS on a moto server as `make run` has it); drift reported, exit 1 on any."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import Call
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.hdruk import route
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.destination import HdrukDestination
from local_stack.gateway_emulator import App, GatewayEmulator
from local_stack.state import write_state
from tests.conftest import PACK_DIR, example
from tests.integration.cli.test_cli import REGION, FakeStack, fake_stack, moto_server, no_state, run

__all__ = ["fake_stack", "moto_server", "no_state"]  # the fixtures these tests share with test_cli

pytestmark = pytest.mark.integration

APP = App("app-verify-1", "client-verify-2")
SECRET = "hgi-verify/gateway-app"
CALL = Call(AppCredentials(APP.app_id, APP.client_id), 5.0, 10.0)


@dataclass
class Published:
    stack: FakeStack
    gateway: GatewayEmulator
    hdruk: HdrukDestination

    def publish(self, key: str, title: str) -> int:
        """Drop ``key`` and publish it as the function would: the object, the Gateway dataset, the ledger item."""
        document = copy.deepcopy(example("schemata/HDRUK/4.0.0/docs.example.json"))
        document["summary"]["title"] = title
        self.stack.s3.put_object(Bucket=self.stack.bucket, Key=key, Body=json.dumps(document).encode())
        obj = SourceObject(self.stack.bucket, key)
        verdict = self.hdruk.judge(document, json.dumps(document))
        created = self.hdruk.create(obj.record_key, document, verdict, CALL)
        assert created.record_id is not None, created.message
        entry = LedgerEntry(
            source=obj.source,
            status=Status.CREATED,
            reason="Created.",
            bucket=obj.bucket,
            key=key,
            record_key=obj.record_key,
            updated_at="2026-12-05T08:00:00.000Z",
            record_id=created.record_id,
            record_version=1,
            destination={"kind": "hdruk", "url": self.hdruk.url},
        )
        DynamoDbLedger(self.stack.table).record(entry)
        return int(created.record_id)

    def item(self, key: str) -> dict[str, Any]:
        return dict(self.stack.table.get_item(Key={"source": f"s3://{self.stack.bucket}/{key}"})["Item"])


@pytest.fixture
def published(fake_stack: FakeStack, pack: Any) -> Iterator[Published]:
    with GatewayEmulator(apps=[APP], validator=pack) as gateway:
        secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=fake_stack.endpoint)
        secrets.create_secret(Name=SECRET, SecretString=json.dumps({"app_id": APP.app_id, "client_id": APP.client_id}))
        routes = [{"prefix": "incoming/", "kind": "hdruk", "url": gateway.base_url, "secret": SECRET}]
        env = {"DESTINATIONS": json.dumps(routes), "LEDGER_TABLE": fake_stack.bucket, "DLQ_URL": "q"}
        env.update(ALLOW_LOCAL_DESTINATIONS="true", SCHEMA_PACK_DIR=str(PACK_DIR))
        state = json.loads(fake_stack.path.read_text(encoding="utf-8"))
        write_state(fake_stack.path, {**state, "function_env": env})
        spec = RouteSpec("incoming/", "hdruk", gateway.base_url.rstrip("/"), SECRET, {})
        yield Published(fake_stack, gateway, route.build(spec, Common(schema_pack_dir=PACK_DIR)))


def by_source(out: str) -> dict[str, dict[str, Any]]:
    return {line["source"].rsplit("/", 1)[1]: line for line in json.loads(out)}


def test_verify_exits_0_when_every_record_matches_and_notes_it_in_the_ledger(
    capsys: pytest.CaptureFixture[str], published: Published
) -> None:
    published.publish("incoming/a.json", "First")
    published.publish("incoming/b.json", "  Second & more® ")
    code, out, err = run(capsys, "verify", "--json")
    assert code == 0, err
    lines = by_source(out)
    assert {k: (v["verified"], v["drift"], v["ledger_updated"]) for k, v in lines.items()} == {
        "a.json": ("matches", False, True),
        "b.json": ("matches", False, True),
    }
    item = published.item("incoming/a.json")
    assert item["verified"] == "matches" and item["verified_at"] > item["updated_at"]
    assert item["status"] == "CREATED" and item["reason"] == "Created."  # the outcome itself is untouched


def test_verify_finds_a_record_changed_or_archived_on_the_catalogue_and_exits_1(
    capsys: pytest.CaptureFixture[str], published: Published
) -> None:
    edited_id = published.publish("incoming/edited.json", "Our title")
    gone_id = published.publish("incoming/gone.json", "Soon archived")
    published.publish("incoming/kept.json", "Untouched")
    (held,) = [d for d in published.gateway.datasets() if d["id"] == edited_id]
    changed = copy.deepcopy(held["metadata"])
    changed["summary"]["title"] = "Edited on the Gateway"
    published.gateway.edit_held(edited_id, changed)
    assert published.hdruk.archive(gone_id, CALL).kind.value == "SUCCESS"

    code, out, err = run(capsys, "verify", "--json")
    assert code == 1, err
    lines = by_source(out)
    assert lines["edited.json"]["verified"] == "differs" and lines["edited.json"]["drift"] is True
    assert lines["edited.json"]["differences"] == [
        {"path": "$.summary.title", "sent": '"Our title"', "held": '"Edited on the Gateway"'}
    ]
    assert lines["gone.json"]["verified"] == "missing" and "archived" in lines["gone.json"]["message"]
    assert lines["kept.json"]["verified"] == "matches" and lines["kept.json"]["drift"] is False
    item = published.item("incoming/edited.json")
    assert item["verified"] == "differs" and item["differences"][0]["path"] == "$.summary.title"
    assert published.item("incoming/gone.json")["verified"] == "missing"

    code, out, err = run(capsys, "verify")  # the table, as a person reads it
    assert code == 1
    assert all(len(line) <= 100 for line in out.splitlines()), out
    assert "differs" in out and "missing" in out and "$.summary.title" in out
    assert "3 records read back: 1 matches, 1 differs, 1 missing" in out

    code, out, _ = run(capsys, "verify", "kept.json", "--json")
    assert code == 0 and list(by_source(out)) == ["kept.json"]
    code, out, _ = run(capsys, "verify", "--prefix", "incoming/edit", "--json")
    assert code == 1 and list(by_source(out)) == ["edited.json"]


def test_verify_user_mistakes_exit_2_in_one_line(capsys: pytest.CaptureFixture[str], published: Published) -> None:
    published.publish("incoming/a.json", "First")
    code, _, err = run(capsys, "verify", "no-such-source")
    assert code == 2 and "no ledger entry matches 'no-such-source'" in err and "Traceback" not in err
    code, _, err = run(capsys, "verify", "a.json", "--prefix", "incoming/")
    assert code == 2 and "not both" in err


def test_a_record_that_cannot_be_read_back_now_is_unknown_and_not_drift(
    capsys: pytest.CaptureFixture[str], published: Published
) -> None:
    published.publish("incoming/a.json", "First")
    published.gateway.faults.script(["503"])
    code, out, _ = run(capsys, "verify", "--json")
    assert code == 0
    (line,) = json.loads(out)
    assert line["verified"] is None and "503" in line["message"] and line["ledger_updated"] is False
    assert "verified" not in published.item("incoming/a.json")
    published.gateway.faults.script(["503"])
    code, out, err = run(capsys, "verify")
    assert code == 0 and "1 unknown" in out and "1 could not be read back now" in err
