"""Publishing one document: judge it, skip it when unchanged, then create or update its record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.document import canonical_bytes
from hdr_ingest.core.outcome import Outcome, Status
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.usecases.calls import Caller
from hdr_ingest.usecases.context import Work
from hdr_ingest.usecases.recording import unchanged
from hdr_ingest.usecases.verify import AfterPublish


class Publisher:
    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.read_back = AfterPublish(caller)  # the read-back hook (usecases.verify)

    def publish(self, work: Work, document: Any) -> Outcome:
        """The outcome of publishing ``document`` for ``work``'s source (INVALID with every error when it is)."""
        destination = work.routed.destination
        canonical = canonical_bytes(document)  # serialised once: the digest, then the judge's text
        digest = hashlib.sha256(canonical).hexdigest()
        previous = work.previous
        same = unchanged(work, document_sha256=digest)
        if same is not None:
            return same
        text = canonical.decode("utf-8")
        del canonical  # one copy of the canonical JSON from here on
        if previous and previous.status is Status.PENDING and previous.document_sha256 == digest:
            settled = self.read_back.after(
                work, self._check(work), document, lambda: destination.judge(document, text).sent_along
            )
            return replace(settled, document_sha256=digest)
        verdict = destination.judge(document, text)
        if not verdict.valid:
            return Outcome(
                Status.INVALID,
                f"The document {verdict.summary}. Fix each error listed and upload it again.",
                verdict.errors,
                schema=verdict.target,
                document_sha256=digest,
                warnings=verdict.warnings,
            )
        upsert = _Upsert(self.caller, work, document, verdict)
        if previous:
            upsert.record_id, upsert.archived = previous.record_id, previous.status is Status.ARCHIVED
        answer = self.caller.with_retries(work, upsert.attempt)
        outcome = self.read_back.after(
            work, outcome_of(answer, verdict.target, destination.noun), document, lambda: verdict.sent_along
        )
        return replace(outcome, document_sha256=digest, warnings=verdict.warnings)

    def _check(self, work: Work) -> Outcome:
        """The same document again while its record is still finishing: ask how it stands, send nothing."""
        previous = work.previous
        assert previous is not None and previous.record_id is not None
        record_id, destination = previous.record_id, work.routed.destination

        def check(call: Call) -> Answer:
            return self.caller.observed(work, "check", lambda: destination.check(record_id, call))

        outcome = outcome_of(self.caller.with_retries(work, check), previous.schema, destination.noun)
        return replace(outcome, record_id=outcome.record_id or record_id)


@dataclass
class _Upsert:
    """Create or update, one try at a time, remembering what is known of the record between tries."""

    caller: Caller
    work: Work
    document: Any
    verdict: Verdict
    record_id: RecordId | None = None
    archived: bool = False
    unanswered: Answer | None = None  # a create of this delivery that got no answer

    def attempt(self, call: Call) -> Answer:
        destination, record_key = self.work.routed.destination, self.work.obj.record_key
        if self.record_id is None:
            # No id recorded: look for a record created earlier for this source (a lost ledger write, a crash after
            # a create, a timed-out create that did succeed), archived ones included.
            found = self.caller.observed(self.work, "find", lambda: destination.find(record_key, call))
            if found.kind is not AnswerKind.SUCCESS:
                return found
            self.record_id, self.archived = found.record_id, found.record_id is not None and not found.found
        record_id = self.record_id
        if record_id is None:
            return self._create(call)
        if self.archived:
            # Re-upload after a deletion: bring the same record back, then update it.
            restored = self.caller.observed(self.work, "unarchive", lambda: destination.restore(record_id, call))
            if restored.kind is AnswerKind.NOT_FOUND:
                return self._create(call)
            if restored.kind is not AnswerKind.SUCCESS:
                return restored
            self.archived = False
        answer = self.caller.observed(
            self.work, "update", lambda: destination.update(record_id, record_key, self.document, self.verdict, call)
        )
        if answer.kind is AnswerKind.NOT_FOUND:  # deleted on the destination since: publish it as a new record
            return self._create(call)
        return answer

    def _create(self, call: Call) -> Answer:
        # A create that got no answer may still be creating the record, and a lookup cannot see it until it is
        # done: creating again now could make a second one. Only look it up until the next delivery (after the
        # visibility timeout), when a lookup finds it if it was created.
        self.record_id, self.archived = None, False
        if self.unanswered is not None:
            return self.unanswered
        destination, record_key = self.work.routed.destination, self.work.obj.record_key
        answer = self.caller.observed(
            self.work, "create", lambda: destination.create(record_key, self.document, self.verdict, call)
        )
        if answer.kind is AnswerKind.TRANSIENT and answer.http_status is None:
            self.unanswered = answer
        return answer


def outcome_of(answer: Answer, target: str | None, noun: str) -> Outcome:
    """What a destination's final answer means for the ledger."""
    if answer.kind is AnswerKind.SUCCESS:
        status = Status.CREATED if answer.created else Status.UPDATED
        verb = "Created" if answer.created else "Updated"
        return Outcome(
            status,
            f"{verb} {noun} {answer.record_id}{_version(answer.record_version)}.",
            schema=target,
            record_id=answer.record_id,
            record_version=answer.record_version,
            http_status=answer.http_status,
        )
    if answer.kind is AnswerKind.PENDING:
        return Outcome(
            Status.PENDING,
            f"Accepted: {noun} {answer.record_id} finishes later ({answer.message}); the next delivery checks again.",
            schema=target,
            record_id=answer.record_id,
            record_version=answer.record_version,
            http_status=answer.http_status,
        )
    status = Status.RETRYING if answer.kind is AnswerKind.TRANSIENT else Status.REJECTED
    return Outcome(
        status,
        answer.message,
        answer.errors,
        schema=target,
        record_id=answer.record_id,
        http_status=answer.http_status,
    )


def _version(version: int | None) -> str:
    """A destination without versions (Qrvey, UNIS, AEP batches) has none to name."""
    return f" (version {version})" if version is not None else ""
