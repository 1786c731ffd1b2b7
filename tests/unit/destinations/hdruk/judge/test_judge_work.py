"""The judge emulates Ajv only for the schema whose errors it shows (issue 25, item 2): detection passes over every
schema on which jsonschema-rs shows a failure Ajv cannot mend, and the closest schema's errors are listed without
walking every candidate to its end.

Nothing here times anything: the emulation's runs are counted, by schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import hdr_ingest.destinations.hdruk.judge.judge as judge_module
from hdr_ingest.destinations.hdruk.judge import GatewayJudge
from hdr_ingest.destinations.hdruk.judge.ajv import AjvRun, SchemaDoc
from hdr_ingest.destinations.hdruk.judge.measure import judgement_times, recorded_examples
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from hdr_ingest.destinations.jsonschema_rust import engine
from tests.conftest import SHARED, measured_document

pytestmark = pytest.mark.unit


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SchemaRef]]:
    """The schema of every Ajv emulation the judge starts."""
    runs: list[SchemaRef] = []

    class Counted(AjvRun):
        def __init__(self, doc: SchemaDoc, **options: Any) -> None:
            runs.append(doc.ref)
            super().__init__(doc, **options)

    monkeypatch.setattr(judge_module, "AjvRun", Counted)
    yield runs


@pytest.mark.parametrize(
    "relative",
    [
        "fma-custodian-test-server/list.json",  # a listing: no schema's required fields
        "gateway-api/gwdm_v1_dataset_min.json",  # wrapped in {"metadata": ...}, sent as it is
        "schemata/HDRUK/4.0.0/docs.template.json",  # a template: empty values everywhere
    ],
)
def test_an_invalid_document_is_emulated_only_against_the_schema_it_is_shown_against(
    pack: SchemaPack, emulated: list[SchemaRef], relative: str
) -> None:
    judgement = GatewayJudge(pack).judge(measured_document(relative))
    assert not judgement.valid and judgement.report.errors
    # The Gateway's first error, then every error: one run without allErrors, one with.
    assert emulated == [judgement.report.schema, judgement.report.schema]


def test_a_document_valid_against_the_twin_needs_no_emulation_to_be_detected(
    pack: SchemaPack, emulated: list[SchemaRef]
) -> None:
    document = measured_document("gateway-api/gwdm_v2p1_dataset_min.json#metadata")  # GWDM 2.1
    judgement = GatewayJudge(pack).judge(document)
    assert judgement.valid and judgement.report.schema == SchemaRef("GWDM", "2.1")
    assert set(emulated) <= {SchemaRef("GWDM", "2.1")}, emulated  # only the run whose changes are explained


def test_auto_mode_detects_what_traser_detects_unless_the_gateways_clean_up_decides(pack: SchemaPack) -> None:
    judge = GatewayJudge(pack)
    documents, first = recorded_examples(SHARED / "hdruk", pack.refs)
    times = judgement_times(judge, documents, repeat=1)
    assert len(times.seconds) == len(documents) == 44
    for name, theirs in first.items():
        if times.matched[name] == theirs:
            continue
        # TRASER was run on the documents as sent: where the Gateway's trimming or HTML-encoding changes the
        # verdict, the judgement names it as the reason.
        judgement = judge.judge(documents[name])
        assert judgement.report.schema == theirs and not judgement.valid, name
        assert any(note.decisive for note in judgement.notes), name


def test_a_failure_at_the_root_is_one_the_robust_core_finds_too(pack: SchemaPack) -> None:
    judge = GatewayJudge(pack)
    documents, _ = recorded_examples(SHARED / "hdruk", pack.refs)
    decided = 0
    for ref in pack.refs:
        twin = judge._twin(ref)
        assert twin is not None
        core = engine().Draft202012Validator(twin._core(twin.doc.root))
        for name, document in [*documents.items(), ("a list", [documents[next(iter(documents))]]), ("null", None)]:
            if twin._fails_at_root(document):
                decided += 1
                assert not core.is_valid(document), (ref, name)  # never a failure Ajv could mend
    assert decided > len(documents)  # most schemas are passed over without a validator


def test_the_closest_schema_is_found_without_listing_every_candidates_errors(
    pack: SchemaPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = measured_document("fma-custodian-test-server/list.json")  # every schema a candidate, none matched
    listed = {ref: len(pack.errors(document, ref)) for ref in pack.refs}  # what each schema's list would hold
    raw = {ref: sum(1 for _ in pack.validator(ref).iter_errors(document)) for ref in pack.refs}
    drawn: dict[SchemaRef, int] = dict.fromkeys(pack.refs, 0)
    validator = pack.validator

    class Counting:
        def __init__(self, ref: SchemaRef) -> None:
            self.ref, self.inner = ref, validator(ref)

        def iter_errors(self, instance: Any) -> Iterator[Any]:
            for error in self.inner.iter_errors(instance):
                drawn[self.ref] += 1
                yield error

    monkeypatch.setattr(pack, "validator", Counting)
    report = pack.validate(document)
    assert report.schema == min(pack.refs, key=lambda ref: (listed[ref], pack.refs.index(ref)))
    assert sum(drawn.values()) < sum(raw.values()) / 2, drawn  # later candidates stop early
