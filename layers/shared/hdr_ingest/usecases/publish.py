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
    sent_create: bool = False  # this delivery has sent a create (answered or not)

    def attempt(self, call: Call) -> Answer:
        destination, record_key = self.work.routed.destination, self.work.obj.record_key
        if self.record_id is None and self._may_exist():
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

    def _may_exist(self) -> bool:
        """Whether a record of this source may exist on the destination without the ledger naming it, so it must be
        looked up before a create. Not when the lease was the source's first (no ledger item at all before it) and
        this delivery has sent no create: then nothing can have been sent for it, because

        * every invocation takes the lease, which writes the item, before it sends anything for the source (each
          element of a catalogue file has its own lease and item), and the item is never deleted: releasing a lease
          keeps it, an outcome's write replaces it, and the table has no TTL;
        * so a crash after a create, a lost outcome write, a create that answered RETRYING or never answered, a
          released lease, an earlier INVALID or REJECTED, all leave an item, and a lookup is made as before;
        * the record key is a hash of the source alone, so no other source's record can carry it;
        * a retried acquire that had taken effect finds its own lease item, so it is never wrongly first.

        The one case it is not safe: a ledger table emptied, deleted and re-made, or restored from an older backup
        while the destination keeps its records. The next drop of a source that lost its item would create a second
        record (HDR UK, and AEP's batches; Qrvey's chosen ids and UNIS's ids make their creates land on the same
        record anyway, but for a Qrvey dataset made before ids were chosen). A second stack with its own ledger
        publishing the same bucket to the same destination is the same case. Run ``hdr-ingest rebuild-ledger``
        before the next drop (README "Crash safety"), or set ``LOOKUP_NEW_SOURCES=true`` (the local stack does
        against a real Gateway: its ledger starts empty each run)."""
        if self.caller.settings.lookup_new_sources:
            return True
        return not (self.work.first and not self.sent_create)

    def _create(self, call: Call) -> Answer:
        # A create that got no answer may still be creating the record, and a lookup cannot see it until it is
        # done: creating again now could make a second one. Only look it up until the next delivery (after the
        # visibility timeout), when a lookup finds it if it was created.
        self.record_id, self.archived = None, False
        if self.unanswered is not None:
            return self.unanswered
        destination, record_key = self.work.routed.destination, self.work.obj.record_key
        self.sent_create = True
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
