"""The judge's memory on an invalid document with one long string is proportional to the document (issue 26,
item 2): the fast verdict's clean-up probe wrote each long candidate string into its jsonschema-rs schema once
per unrolled level (and jsonschema-rs copied it again), about 66 bytes per byte of the string.

Nothing here times anything: memory is a tracemalloc peak, as a ratio to the document's size.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hdr_ingest.destinations.hdruk.judge import GatewayJudge, ValidationMode, cleanup, judge_for
from hdr_ingest.destinations.hdruk.judge.cleanup import MAX_ENUM_CHARS, flagged
from hdr_ingest.destinations.hdruk.judge.measure import peak_bytes
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack
from hdr_ingest.destinations.jsonschema_rust import engine
from tests.conftest import example

pytestmark = pytest.mark.unit

MB = 1024 * 1024
# The Gateway HTML-encodes "&" as "&amp;": the document it validates holds the string five times over. Beyond
# that (and the document itself), the judge may hold a few copies; before the fix it held fifteen.
BYTES_PER_BYTE = 10


def _invalid_with(text: str) -> dict[str, Any]:
    """HDR UK's 4.0.0 example with ``text`` as its description, made invalid by a contact that is no e-mail."""
    document = copy.deepcopy(example("schemata/HDRUK/4.0.0/docs.example.json"))
    document["summary"]["description"] = text
    document["summary"]["contactPoint"] = "not an e-mail address"
    return document


def _compact(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("character", ["&", "a"])
def test_an_invalid_document_with_one_long_string_is_judged_in_memory_proportional_to_it(
    pack: SchemaPack, character: str
) -> None:
    judge = judge_for(pack)
    warm = _invalid_with(character * 10_000)  # every validator built before measuring
    assert not judge.judge(warm, None, text=_compact(warm)).valid
    document = _invalid_with(character * (2 * MB))
    text = _compact(document)
    peak = peak_bytes(judge, document, text)
    assert peak <= BYTES_PER_BYTE * len(text), f"{peak / len(text):.1f} bytes per byte of the document"


def test_a_long_candidate_is_flagged_by_its_length_and_judged_as_the_emulation_judges_it(
    pack: SchemaPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cleanup, "_SMALL", 0)  # the enum probe whatever the document's size
    long_text = "Tom & Jerry " * (MAX_ENUM_CHARS // 4)
    document = copy.deepcopy(example("schemata/HDRUK/4.0.0/docs.example.json"))  # valid: the fast verdict decides
    document["accessibility"]["access"]["accessRights"] = long_text  # no length limit
    document["summary"]["title"] = "Short & sweet"
    found = dict(flagged(document, engine(), objects=False, values=[long_text, "Short & sweet"]) or [])
    assert found[("accessibility", "access", "accessRights")] == long_text
    assert found[("summary", "title")] == "Short & sweet"
    fast = GatewayJudge(pack)
    assert fast.fast_judgement(document, None, ValidationMode.GATEWAY, _compact(document)) is not None
    judged = fast.judge(document, None, text=_compact(document))
    emulated = GatewayJudge(pack, fast=False).judge(document, None)
    assert judged.valid and judged.report == emulated.report and judged.warnings == emulated.warnings
