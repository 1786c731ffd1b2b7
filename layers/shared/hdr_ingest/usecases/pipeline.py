"""Publishing one source object: route → lease → read → parse → (catalogue | publish) → record.

Plain Python over the core's ports; the collaborators each hold one job (``leases``, ``recording``, ``calls``,
``publish``, ``catalogue``, ``archive``). The pipeline receives them (:class:`UseCases`, built by ``UseCases.wire``)
and the AWS and HTTP adapters from the composition root, ``hdr_ingest.entry.composition``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hdr_ingest.core.document import DocumentError
from hdr_ingest.core.ledger import Ledger
from hdr_ingest.core.outcome import ErrorDetail, Outcome, Status
from hdr_ingest.core.ports import (
    Background,
    DeadLetters,
    NullObserver,
    ObjectReadError,
    ObjectStore,
    Observer,
    StoredObject,
)
from hdr_ingest.core.routing import Routes
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.usecases.archive import Archiver
from hdr_ingest.usecases.calls import Caller
from hdr_ingest.usecases.catalogue import CataloguePublisher
from hdr_ingest.usecases.context import Budget, Delivery, PipelineSettings, Work
from hdr_ingest.usecases.leases import Leases
from hdr_ingest.usecases.publish import Publisher
from hdr_ingest.usecases.recording import Recorder, is_stale, unchanged

if TYPE_CHECKING:
    from concurrent.futures import Future


@dataclass(frozen=True)
class UseCases:
    """The collaborators the pipeline hands its work to, one job each. :meth:`wire` builds the usual set over the
    ports; the composition root (``entry.composition``) calls it, and whoever builds a pipeline may pass its own
    ``publisher`` (the catalogue publishes its elements through the same one)."""

    leases: Leases
    recorder: Recorder
    caller: Caller
    publisher: Publisher
    archiver: Archiver
    catalogue: CataloguePublisher

    @classmethod
    def wire(
        cls,
        settings: PipelineSettings,
        ledger: Ledger,
        dead_letters: DeadLetters,
        observer: Observer,
        clock: Callable[[], datetime],
        rng: random.Random,
        publisher: Callable[[Caller], Publisher] = Publisher,
    ) -> UseCases:
        leases = Leases(ledger, clock)
        recorder = Recorder(ledger, dead_letters, observer, clock)
        caller = Caller(settings, observer, rng)
        publishing = publisher(caller)
        archiver = Archiver(settings, leases, recorder, caller, observer)
        catalogue = CataloguePublisher(settings, leases, recorder, publishing, archiver.archive_element)
        return cls(leases, recorder, caller, publishing, archiver, catalogue)


class IngestPipeline:
    def __init__(
        self,
        settings: PipelineSettings,
        routes: Routes,
        store: ObjectStore,
        use_cases: UseCases,
        background: Background | None = None,
    ) -> None:
        """``background``: where the object's read runs beside the lease write (the two waits overlap); without
        it the object is read once the lease is held."""
        self.settings = settings
        self.routes = routes
        self.store = store
        self.background = background
        self.use_cases = use_cases

    @classmethod
    def wired(  # noqa: PLR0913 - the ports, then the optional parts by name
        cls,
        settings: PipelineSettings,
        routes: Routes,
        store: ObjectStore,
        ledger: Ledger,
        dead_letters: DeadLetters,
        observer: Observer | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        background: Background | None = None,
    ) -> IngestPipeline:
        """The pipeline with the usual use cases over these ports (tests build one so; the function's own is built
        by ``entry.composition.build_pipeline``)."""
        use_cases = UseCases.wire(
            settings, ledger, dead_letters, observer or NullObserver(), clock, rng or random.Random()
        )
        return cls(settings, routes, store, use_cases, background)

    def process(self, obj: SourceObject, delivery: Delivery, budget: Budget | None = None) -> Outcome:
        """Publish (or, for a removal, archive) ``obj`` and record the outcome.

        Raises :class:`~hdr_ingest.usecases.context.RetryLater` for a transient failure that SQS will deliver
        again (including "another invocation is working on this source right now")."""
        budget = budget or Budget()
        route = self.routes.for_key(obj.key)
        if route is None:
            return self._unrouted(obj, delivery, budget)
        if obj.is_removal:
            return self.use_cases.archiver.remove(obj, route, delivery, budget)
        read_ahead = self._read_ahead(obj)
        try:
            with self.use_cases.leases.hold(obj, route, delivery, budget) as work:
                work.read_ahead = read_ahead
                return self.use_cases.recorder.guarded(work, lambda: self._publish(work))
        finally:
            if read_ahead is not None:
                read_ahead.cancel()  # not started yet (no lease, a stale event): never read

    def _read_ahead(self, obj: SourceObject) -> Future[StoredObject] | None:
        """The object's read, started now (beside the lease write) when it will be needed: a .json object, with a
        ``background`` to run it. Whatever the lease then decides, nothing is published from it without the
        lease; a read that is not needed is dropped."""
        if self.background is None or not _publishable_name(obj.key):
            return None
        return self.background.submit(lambda: self.store.read(obj, self.settings.max_object_bytes))

    def _publish(self, work: Work) -> Outcome:
        """Every way a publish ends is an :class:`Outcome`, recorded here (a catalogue records its own)."""
        if is_stale(work):
            return self.use_cases.recorder.stale(work)
        export = self._read(work)
        if isinstance(export, list):
            return self.use_cases.catalogue.publish(work, export)
        outcome = export if isinstance(export, Outcome) else self.use_cases.publisher.publish(work, export)
        return self.use_cases.recorder.finish(work, outcome)

    def _read(self, work: Work) -> Outcome | dict[str, Any] | list[dict[str, Any]]:
        """The object's export (a document, or a catalogue's list), or the outcome that ends the publish here: not
        JSON by name, unreadable, unparseable, or UNCHANGED for the same bytes again."""
        obj = work.obj
        if not _publishable_name(obj.key):
            return Outcome(
                Status.INVALID,
                f"{obj.key!r} is not a .json object; only .json objects are published. Rename it to end in .json.",
            )
        try:
            ahead = work.read_ahead
            work.stored = ahead.result() if ahead is not None else self.store.read(obj, self.settings.max_object_bytes)
        except ObjectReadError as exc:
            status = Status.RETRYING if exc.transient else Status.INVALID
            return Outcome(status, str(exc), (ErrorDetail("$", str(exc)),))
        work.object_sha256 = hashlib.sha256(work.stored.data).hexdigest()
        same = unchanged(work, object_sha256=work.object_sha256)
        if same is not None:
            return same
        try:
            return work.routed.destination.parse(work.stored.data)
        except DocumentError as exc:
            return Outcome(Status.INVALID, f"The object {exc}", (exc.detail,))

    def note_malformed(self, obj: SourceObject, why: str, delivery: Delivery, budget: Budget | None = None) -> None:
        """An event record naming ``obj`` that could not be read (``why``): the object's ledger row says so, still
        pointing at any record already published. The caller dead-letters the event itself, so none is sent here."""
        reason = f"An S3 event for this object could not be read ({why}); it was not processed. Upload it again."
        outcome = Outcome(Status.INVALID, reason, (ErrorDetail("$", why),))
        recorder = self.use_cases.recorder
        with self.use_cases.leases.hold(obj, self.routes.for_key(obj.key), delivery, budget or Budget()) as work:
            recorder.ledger.record(recorder.entry(work, outcome), work.owner)
            work.recorded = True

    def send_dead_letter(self, message: dict[str, Any]) -> None:
        """Send ``message`` to the dead-letter queue as it is: the runtime's own letter for a message that announces
        no object it can process (a publish's failures are dead-lettered by the recorder)."""
        self.use_cases.recorder.dead_letters.send(message)

    def _unrouted(self, obj: SourceObject, delivery: Delivery, budget: Budget) -> Outcome:
        """An object under no route is recorded INVALID with the configured prefixes: never silently dropped.
        A removal there had nothing published to archive."""
        if obj.is_removal:
            outcome = Outcome(Status.UNCHANGED, f"Object deleted under no route; nothing to archive for {obj.key!r}.")
            self.use_cases.recorder.observer.outcome(obj, outcome)
            return outcome
        reason = self.routes.unrouted_reason(obj.key)
        with self.use_cases.leases.hold(obj, None, delivery, budget) as work:
            return self.use_cases.recorder.finish(work, Outcome(Status.INVALID, reason, (ErrorDetail("$", reason),)))


def _publishable_name(key: str) -> bool:
    """Only .json objects are published (any other is INVALID by name, unread)."""
    return key.lower().endswith(".json")
