"""HDR UK read-back without the clean-up computed twice (issue 25): after a publish through the real handler and
``HdrukDestination`` against the Gateway emulator, and in ``hdr-ingest verify``'s reverify, what the Gateway should
hold comes from the judge's verdict. The judge cleans the document up once; ``readback.expected`` is not called."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hdr_ingest.core.document import canonical_json
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import Call
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.core.verification import Verified
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.hdruk import readback, route
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.judge import Route, ValidationMode, cleanup, judge_for
from hdr_ingest.destinations.hdruk.judge import judge as judge_module
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack
from hdr_ingest.usecases.verify import reverify
from local_stack.gateway_emulator import GatewayEmulator
from tests.conftest import PACK_DIR, example
from tests.integration.conftest import APP, BUCKET, SECRET, Stack
from tests.integration.destinations.hdruk.test_gateway_datasets_route import use_api

pytestmark = pytest.mark.integration

CALL = Call(AppCredentials(APP.app_id, APP.client_id), 5.0, 10.0)
# HDR UK's 4.0.0 example takes the fast verdict; its 2.1.2 example the emulation (the judge's two ways to clean up).
FAST, EMULATED = "schemata/HDRUK/4.0.0/docs.example.json", "schemata/HDRUK/2.1.2/example.json"


def document(name: str) -> dict[str, Any]:
    """The example with a padded, re-encoded title: every clean-up step changes it."""
    out = copy.deepcopy(example(name))
    summary = out["summary"]
    summary["title"] = f"  {summary.get('title', 'A dataset')} & Notes® "
    return out


@dataclass
class Counted:
    """Calls to the clean-up (``cleanup.cleaned``, as the judge and ``readback.expected`` call it) and to
    ``readback.expected``, the read-back's own computation."""

    cleaned: int = 0
    expected: list[Any] = field(default_factory=list)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counted]:
    found = Counted()
    real_cleaned, real_expected = cleanup.cleaned, readback.expected

    def cleaned(*args: Any, **kwargs: Any) -> Any:
        found.cleaned += 1
        return real_cleaned(*args, **kwargs)

    def expected(document: Any, api: Any) -> Any:
        found.expected.append(api)
        return real_expected(document, api)

    monkeypatch.setattr(cleanup, "cleaned", cleaned)
    monkeypatch.setattr(judge_module, "cleaned", cleaned)
    monkeypatch.setattr(readback, "expected", expected)
    yield found


@pytest.mark.parametrize("name", [FAST, EMULATED])
@pytest.mark.parametrize("api", ["integrations", "datasets"])
def test_the_read_back_after_a_publish_takes_what_is_held_from_the_verdict(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, pack: SchemaPack, counted: Counted, api: str, name: str
) -> None:
    judged_on = Route.INTEGRATIONS if api == "integrations" else Route.DATASETS_V1
    fast = judge_for(pack, judged_on).fast_judgement(document(name), None, ValidationMode.GATEWAY, None)
    assert (fast is not None) is (name == FAST)  # each of the judge's two ways is taken
    counted.cleaned = 0
    use_api(stack, monkeypatch, api)
    key = "incoming/read-back-once.json"
    stack.drop_and_invoke(key, document(name))
    item = stack.ledger(key)
    assert item["status"] == "CREATED", item["reason"]
    assert item["verified"] == "matches", item.get("differences")
    assert (counted.cleaned, counted.expected) == (1, [])  # the judge's clean-up, and nothing after it

    stack.drop_and_invoke(key, document(name) | {"version": "9.9.9"})
    updated = stack.ledger(key)
    assert (updated["status"], updated["verified"]) == ("UPDATED", "matches"), updated["reason"]
    assert (counted.cleaned, counted.expected) == (2, [])


@pytest.mark.parametrize("api", ["integrations", "datasets"])
def test_reverify_takes_what_is_held_from_the_verdict_too(
    emulator: GatewayEmulator, counted: Counted, api: str
) -> None:
    emulator.reset()
    emulator.set_apps([APP], replace=True)
    spec = RouteSpec("incoming/", "hdruk", emulator.base_url, SECRET, {"api": api})
    hdruk = route.build(spec, Common(schema_pack_dir=PACK_DIR))
    sent = document(FAST)
    obj = SourceObject(BUCKET, "incoming/reverified.json")
    created = hdruk.create(obj.record_key, sent, hdruk.judge(sent, canonical_json(sent)), CALL)
    assert created.record_id is not None, created.message
    entry = LedgerEntry(
        source=obj.source,
        status=Status.CREATED,
        reason="Created.",
        bucket=BUCKET,
        key=obj.key,
        record_key=obj.record_key,
        updated_at="2026-12-05T08:00:00.000Z",
        record_id=created.record_id,
    )
    counted.cleaned = 0
    drift = reverify(entry, hdruk, copy.deepcopy(sent), CALL)  # the document as read again from S3
    assert drift.verification is not None and drift.verification.result is Verified.MATCHES, drift.message
    assert (counted.cleaned, counted.expected) == (1, [])
