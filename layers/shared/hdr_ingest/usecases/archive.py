"""Removals (``s3:ObjectRemoved:*``): archive the source's record, and a catalogue's element records."""

from __future__ import annotations

from dataclasses import dataclass, replace

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.outcome import Outcome, Status
from hdr_ingest.core.ports import Call, Observer
from hdr_ingest.core.routing import Route
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.usecases.calls import Caller
from hdr_ingest.usecases.catalogue import previous_members
from hdr_ingest.usecases.context import Budget, Delivery, PipelineSettings, RetryLater, Work
from hdr_ingest.usecases.leases import Leases
from hdr_ingest.usecases.publish import outcome_of
from hdr_ingest.usecases.recording import Recorder, is_stale, nothing_sent

DELETED_KEPT = "Object deleted; record left on the catalogue (ArchiveOnDelete is off)."


class Archiver:
    def __init__(
        self, settings: PipelineSettings, leases: Leases, recorder: Recorder, caller: Caller, observer: Observer
    ) -> None:
        self.settings = settings
        self.leases = leases
        self.recorder = recorder
        self.caller = caller
        self.observer = observer

    def remove(self, obj: SourceObject, route: Route, delivery: Delivery, budget: Budget) -> Outcome:
        if not self.settings.archive_on_delete:
            previous = self.leases.ledger.get(obj.source)
            if previous is not None and previous.status in (Status.CREATED, Status.UPDATED, Status.UNCHANGED):
                with self.leases.hold(obj, route, delivery, budget) as work:
                    return self.recorder.guarded(work, lambda: self._note_deletion(work))
            outcome = Outcome(Status.UNCHANGED, "Object deleted; archiving on delete is not enabled.")
            self.observer.outcome(obj, outcome)
            return outcome
        previous = self.leases.ledger.get(obj.source)
        retry: RetryLater | None = None
        for identifier in previous_members(self.leases.ledger, previous):
            try:
                self.archive(obj.element(identifier), route, delivery, budget)
            except RetryLater as exc:
                retry = retry or exc
        outcome = self.archive(obj, route, delivery, budget)
        if retry is not None:
            raise retry
        return outcome

    def _note_deletion(self, work: Work) -> Outcome:
        """ArchiveOnDelete off: the published row keeps its status, record and digests, and says the object went."""
        previous = work.previous
        if previous is None or is_stale(work):
            return self.recorder.stale(work) if previous is not None else Outcome(Status.UNCHANGED, DELETED_KEPT)
        work.object_sha256, work.members = previous.object_sha256, previous_members(self.leases.ledger, previous)
        kept = Outcome(
            previous.status,
            DELETED_KEPT,
            schema=previous.schema,
            record_id=previous.record_id,
            record_version=previous.record_version,
            document_sha256=previous.document_sha256,
        )
        return self.recorder.finish(work, kept)

    def archive_element(self, obj: SourceObject, parent: Work) -> Outcome:
        return self.archive(obj, parent.routed, parent.delivery, parent.budget)

    def archive(self, obj: SourceObject, route: Route, delivery: Delivery, budget: Budget) -> Outcome:
        with self.leases.hold(obj, route, delivery, budget) as work:
            return self.recorder.guarded(work, lambda: self._archive(work))

    def _archive(self, work: Work) -> Outcome:
        previous, noun = work.previous, work.routed.destination.noun
        if is_stale(work):
            return self.recorder.stale(work)
        if previous is not None and previous.status is Status.ARCHIVED:
            outcome = replace(nothing_sent(previous, noun, "Already archived"), status=Status.ARCHIVED)
            return self.recorder.finish(work, outcome)
        if previous is not None and previous.member_count and previous.record_id is None:
            # a catalogue file: its members were archived one by one
            outcome = Outcome(Status.ARCHIVED, f"Catalogue deleted; its {previous.member_count} datasets archived.")
            return self.recorder.finish(work, outcome)
        step = _Archive(self.caller, work, previous.record_id if previous else None)
        answer = self.caller.with_retries(work, step.attempt)
        return self.recorder.finish(work, self._outcome(work, step.record_id, answer))

    @staticmethod
    def _outcome(work: Work, record_id: RecordId | None, answer: Answer) -> Outcome:
        noun, previous = work.routed.destination.noun, work.previous
        if answer.kind not in (AnswerKind.SUCCESS, AnswerKind.NOT_FOUND):
            return outcome_of(answer, None, noun)
        what = f"Archived {noun} {record_id}" if record_id is not None else f"No {noun} to archive"
        return Outcome(
            Status.ARCHIVED,
            f"{what}: the object was deleted. Uploading it again restores and updates the dataset.",
            record_id=record_id,
            record_version=previous.record_version if previous else None,
            http_status=answer.http_status,
        )


@dataclass
class _Archive:
    caller: Caller
    work: Work
    record_id: RecordId | None

    def attempt(self, call: Call) -> Answer:
        destination = self.work.routed.destination
        if self.record_id is None:
            record_key = self.work.obj.record_key
            found = self.caller.observed(self.work, "find", lambda: destination.find(record_key, call))
            if found.kind is not AnswerKind.SUCCESS or not found.found:
                return found
            self.record_id = found.record_id
        record_id = self.record_id
        assert record_id is not None
        return self.caller.observed(self.work, "archive", lambda: destination.archive(record_id, call))
