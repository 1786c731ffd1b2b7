"""Issue 24 §5: with ArchiveOnDelete off a deletion leaves a trace in the ledger, the record and status kept."""

from __future__ import annotations

import pytest

from hdr_ingest.core.outcome import Status
from tests.unit.usecases.test_reexports import DOC, World, world

pytestmark = pytest.mark.unit
__all__ = ["world"]  # the fixture, shared with test_reexports

DELETED = "Object deleted; record left on the catalogue"


def test_a_deletion_without_archive_on_delete_is_noted_and_keeps_the_status_and_record(world: World) -> None:
    world.drop("incoming/a.json", DOC, sequencer="01")
    before = world.ledger.items["s3://bucket/incoming/a.json"]
    world.delete("incoming/a.json", sequencer="02")
    after = world.ledger.items["s3://bucket/incoming/a.json"]
    assert world.gateway.datasets[1]["archived"] is False  # left on the catalogue
    assert after.status is Status.CREATED and after.reason.startswith(DELETED)
    assert (after.record_id, after.record_version) == (before.record_id, before.record_version)
    assert after.document_sha256 == before.document_sha256
    assert world.dlq.messages == []
    # the same file dropped again is still the same record: nothing sent, no new version
    world.drop("incoming/a.json", DOC, sequencer="03")
    again = world.ledger.items["s3://bucket/incoming/a.json"]
    assert again.status is Status.UNCHANGED and again.record_version == before.record_version


def test_an_older_deletion_never_overwrites_newer_state(world: World) -> None:
    world.drop("incoming/a.json", DOC, sequencer="05")
    world.delete("incoming/a.json", sequencer="02")
    assert world.ledger.items["s3://bucket/incoming/a.json"].reason.startswith(DELETED) is False
