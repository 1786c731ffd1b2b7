"""HDR UK's note on a valid verdict (``destination.SentAlong``, issue 25): the schema to send, and what the Gateway
will hold, taken from the judge's own clean-up so that the read-back does not clean the document up again."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hdr_ingest.core.answers import Answer
from hdr_ingest.core.document import canonical_json, parse_export
from hdr_ingest.core.ports import Call
from hdr_ingest.destinations.hdruk import readback
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.destination import NOT_JUDGED, HdrukDestination, SentAlong, schema_to_send
from hdr_ingest.destinations.hdruk.judge import GatewayJudge, Route, ValidationMode, judge_for
from hdr_ingest.destinations.hdruk.options import Api
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from tests.conftest import EXAMPLES, example
from tests.fakes import Gateway, created, updated

pytestmark = pytest.mark.unit

URL = "https://gateway.test/api/v1"
HDRUK_400 = SchemaRef("HDRUK", "4.0.0")
CALL = Call(AppCredentials("app-1", "client-1"), 5.0, 10.0)
ROUTES = {Api.INTEGRATIONS: Route.INTEGRATIONS, Api.DATASETS: Route.DATASETS_V1}


def examples() -> list[tuple[str, Any]]:
    """Every document of ``../shared/hdruk/examples``: each file's (unwrapped) document, or each element of a list."""
    out: list[tuple[str, Any]] = []
    for path in sorted(EXAMPLES.rglob("*.json")):
        name = str(path.relative_to(EXAMPLES))
        found = parse_export(Path(path).read_bytes())
        elements = found if isinstance(found, list) else [found]
        out.extend((f"{name}#{i}" if isinstance(found, list) else name, element) for i, element in enumerate(elements))
    return out


def destination(pack: SchemaPack, api: Api = Api.INTEGRATIONS, mode: str = "gateway", gateway: Any = None) -> Any:
    return HdrukDestination(URL, gateway, lambda: pack, validation_mode=mode, api=api)


def marked() -> dict[str, Any]:
    """HDR UK's 4.0.0 example with values each clean-up step changes."""
    document = copy.deepcopy(example("schemata/HDRUK/4.0.0/docs.example.json"))
    document["summary"]["title"] = "  Trusted Research® Data & Notes "
    document["summary"]["dataCustodian"]["description"] = ""
    return document


@pytest.mark.parametrize("api", list(Api))
def test_what_a_valid_verdict_carries_is_what_the_gateway_holds_for_every_example(pack: SchemaPack, api: Api) -> None:
    """For every example the judge finds valid, in either mode, the note's ``held_as`` equals today's
    ``readback.expected``, and is the judge's own (not computed afterwards). The examples reach both the fast
    verdict and the emulation; the emulating judge (``fast=False``) cleans up the same way."""
    emulating = GatewayJudge(pack, ROUTES[api], fast=False)
    judged, fast, emulated = 0, 0, 0
    for name, document in examples():
        text = canonical_json(document)
        for mode in ValidationMode:
            verdict = destination(pack, api, mode.value).judge(document, text)
            if not verdict.valid:
                continue
            judged += 1
            note = verdict.sent_along
            assert isinstance(note, SentAlong) and note.made_for(document, api), name
            assert "held_as" not in vars(note) and note.judged is not NOT_JUDGED, name  # the judge's own
            today = readback.expected(document, api)
            assert note.held_as == today, (name, mode)
            assert destination(pack, api).expected(document, note) is note.held_as
            assert str(note.schema) == verdict.target
            assert emulating.judge(document, None, mode, text=text).received == today, (name, mode)
            if mode is ValidationMode.GATEWAY:
                quick = judge_for(pack, ROUTES[api]).fast_judgement(document, None, mode, text)
                fast, emulated = fast + (quick is not None), emulated + (quick is None)
    assert judged >= 20 and fast >= 5 and emulated >= 2, (judged, fast, emulated)


def test_the_held_document_follows_the_route_s_clean_up(pack: SchemaPack) -> None:
    document = marked()
    encoded = destination(pack, Api.INTEGRATIONS).judge(document, canonical_json(document)).sent_along
    plain = destination(pack, Api.DATASETS).judge(document, canonical_json(document)).sent_along
    assert encoded.held_as["summary"]["title"] == "Trusted Research&reg; Data &amp; Notes"
    assert plain.held_as["summary"]["title"] == "Trusted Research® Data & Notes"
    assert encoded.held_as["summary"]["dataCustodian"]["description"] is None
    assert document["summary"]["title"] == "  Trusted Research® Data & Notes "  # the document itself is left alone


def test_expected_computes_it_when_the_note_is_not_one_for_this_document_and_route(pack: SchemaPack) -> None:
    document = marked()
    integrations, datasets = destination(pack, Api.INTEGRATIONS), destination(pack, Api.DATASETS)
    note = integrations.judge(document, canonical_json(document)).sent_along
    assert integrations.expected(document, None) == readback.expected(document, Api.INTEGRATIONS) == note.held_as
    assert integrations.expected(document, HDRUK_400) == note.held_as  # a bare schema: computed here
    assert datasets.expected(document, note) == readback.expected(document, Api.DATASETS) != note.held_as
    other = copy.deepcopy(document)
    other["summary"]["title"] = "Another title"
    assert integrations.expected(other, note)["summary"]["title"] == "Another title"


def test_a_note_the_judge_did_not_fill_computes_what_is_held_once(
    pack: SchemaPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Api] = []
    real = readback.expected

    def counted(document: Any, api: Api) -> Any:
        calls.append(api)
        return real(document, api)

    monkeypatch.setattr(readback, "expected", counted)
    document = marked()
    note = SentAlong(HDRUK_400, document, Api.DATASETS)
    assert calls == []  # nothing computed until asked
    assert note.held_as == real(document, Api.DATASETS)
    assert destination(pack, Api.DATASETS).expected(document, note) is note.held_as
    assert calls == [Api.DATASETS]


def test_create_and_update_send_the_note_s_schema(pack: SchemaPack) -> None:
    sent: list[SchemaRef | None] = []

    class Recording(Gateway):
        def update(self, dataset_id: int, document: Any, schema: SchemaRef | None, *args: Any, **kw: Any) -> Answer:
            sent.append(schema)
            return super().update(dataset_id, document, schema, *args, **kw)

    gateway = Recording(creates=[created()], updates=[updated()])
    hdruk = destination(pack, gateway=gateway)
    document = marked()
    verdict = hdruk.judge(document, canonical_json(document))
    assert verdict.sent_along.schema == HDRUK_400 and verdict.target == "HDRUK 4.0.0"
    assert hdruk.create("hgi-key", document, verdict, CALL).created
    hdruk.update(7, "hgi-key", document, verdict, CALL)
    assert gateway.calls[0] == ("create", (HDRUK_400, "hgi-key", "app-1")) and sent == [HDRUK_400]
    assert (schema_to_send(verdict.sent_along), schema_to_send(HDRUK_400), schema_to_send(None)) == (
        HDRUK_400,
        HDRUK_400,
        None,
    )


def test_an_invalid_verdict_carries_no_note(pack: SchemaPack) -> None:
    verdict = destination(pack).judge({"summary": {}}, '{"summary":{}}')
    assert not verdict.valid and verdict.sent_along is None
