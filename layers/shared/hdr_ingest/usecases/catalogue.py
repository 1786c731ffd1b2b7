"""Catalogue files: one object holding a JSON array of documents, each published as its own record with its
own ledger item (``<source>#<identifier>``); elements that left the catalogue are archived when enabled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from hdr_ingest.core.bounds import key_part
from hdr_ingest.core.catalogue import catalogue_status, element_identifier, member_of_row, missing_identifier_message
from hdr_ingest.core.ledger import PUBLISHED, Ledger, LedgerEntry
from hdr_ingest.core.outcome import ErrorDetail, Outcome, Status
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.usecases.context import PipelineSettings, RetryLater, Work
from hdr_ingest.usecases.leases import Leases
from hdr_ingest.usecases.publish import Publisher
from hdr_ingest.usecases.recording import Recorder

Archive = Callable[[SourceObject, Work], Outcome]  # archives one element's record (see usecases.archive)


class CataloguePublisher:
    def __init__(
        self, settings: PipelineSettings, leases: Leases, recorder: Recorder, publisher: Publisher, archive: Archive
    ) -> None:
        self.settings = settings
        self.leases = leases
        self.recorder = recorder
        self.publisher = publisher
        self.archive = archive

    def publish(self, work: Work, elements: list[dict[str, Any]]) -> Outcome:
        counts: Counter[str] = Counter()
        problems: list[ErrorDetail] = []
        members: list[str] = []
        retry: RetryLater | None = None
        clashes = natural_clashes(elements, self.settings.catalogue_id_pointer, work.routed.destination.natural_key)
        for index, element in enumerate(elements):
            if work.budget.remaining_ms() < self.settings.element_time_ms:
                return self._out_of_time(work, elements, index, members, counts, problems)
            try:
                identifier, outcome = self._element(work, (index, element), members, problems, clashes)
            except RetryLater as exc:
                identifier, outcome, retry = None, exc.outcome, retry or exc
            if outcome is None:
                continue
            if identifier is not None and outcome.status.is_failure:
                problems.append(ErrorDetail(f"$[{index}]", f"{identifier}: {outcome.status.value}: {outcome.reason}"))
            counts[outcome.status.value] += 1
        retry = self._gone(work, members, counts) or retry
        work.members = tuple(members)
        parent = self.recorder.finish(work, self._summary(work, len(elements), counts, problems))
        if retry is not None:
            raise retry
        return parent

    def _out_of_time(
        self,
        work: Work,
        elements: list[dict[str, Any]],
        index: int,
        members: list[str],
        counts: Counter[str],
        problems: list[ErrorDetail],
    ) -> Outcome:
        """Too little of the invocation is left for another element: the ones not reached count as RETRYING, so
        the file is RETRYING and SQS delivers it again (those already done are then UNCHANGED). Nothing is
        archived, and the members not reached are kept, since this export was not read to its end."""
        counts["RETRYING"] += len(elements) - index
        current = {key_part(m) for m in members}
        previous = previous_members(self.leases.ledger, work.previous)
        work.members = tuple(members) + tuple(m for m in previous if key_part(m) not in current)
        problems.append(ErrorDetail(f"$[{index}]", f"not reached: the invocation ran out of time at element {index}"))
        return self.recorder.finish(work, self._summary(work, len(elements), counts, problems))

    def _element(
        self,
        work: Work,
        at: tuple[int, dict[str, Any]],
        members: list[str],
        problems: list[ErrorDetail],
        clashes: dict[int, str],
    ) -> tuple[str | None, Outcome | None]:
        """One element published under its own lease: its identifier (``None``: it has none) and outcome. An
        element without an identifier is known by the destination's natural key for it, when it has one."""
        index, element = at
        pointer = self.settings.catalogue_id_pointer
        identifier = element_identifier(element, pointer) or work.routed.destination.natural_key(element)
        unusable = missing_identifier_message(pointer) if identifier is None else clashes.get(index)
        if identifier is None or unusable is not None:
            detail = ErrorDetail(f"$[{index}]", unusable or missing_identifier_message(pointer))
            problems.append(detail)
            outcome = Outcome(Status.INVALID, f"Catalogue element {index} {detail.message}", (detail,))
            with self.leases.hold(work.obj.element(f"[{index}]"), work.route, work.delivery, work.budget) as member:
                return None, self.recorder.finish(member, outcome)
        if identifier in members:
            problems.append(ErrorDetail(f"$[{index}]", f"repeats identifier {identifier!r}; the first one is used"))
            return identifier, None
        members.append(identifier)
        with self.leases.hold(work.obj.element(identifier), work.route, work.delivery, work.budget) as member:
            return identifier, self.recorder.guarded(member, lambda: self._publish(member, element))

    def _publish(self, member: Work, element: dict[str, Any]) -> Outcome:
        return self.recorder.finish(member, self.publisher.publish(member, element))

    def _gone(self, work: Work, members: list[str], counts: Counter[str]) -> RetryLater | None:
        """Elements exported before and not now: archived when deletion is enabled, else left (and counted)."""
        retry: RetryLater | None = None
        current = {key_part(m) for m in members}
        previous = previous_members(self.leases.ledger, work.previous)
        for identifier in (m for m in previous if key_part(m) not in current):
            if not self.settings.archive_on_delete:
                counts["LEFT"] += 1
                continue
            try:
                outcome = self.archive(work.obj.element(identifier), work)
            except RetryLater as exc:
                retry, outcome = retry or exc, exc.outcome
            counts[outcome.status.value] += 1
        return retry

    @staticmethod
    def _summary(work: Work, total: int, counts: Counter[str], problems: list[ErrorDetail]) -> Outcome:
        status, said = catalogue_status(counts, work.previous is not None and work.previous.status in PUBLISHED)
        title = work.routed.destination.title
        left = f"; {counts['LEFT']} no longer exported left on the {title} (deletion is not enabled)"
        left = left if counts["LEFT"] else ""
        return Outcome(Status(status), f"Catalogue of {total} datasets: {said}{left}.", tuple(problems))


def previous_members(ledger: Ledger, previous: LedgerEntry | None) -> tuple[str, ...]:
    """The identifiers of the elements a catalogue file had: from its ledger item, or, when they were too many to
    keep there (``members_elsewhere``), from its element rows not yet archived."""
    if previous is None or not previous.members_elsewhere:
        return previous.members if previous else ()
    found = (member_of_row(row, previous) for row in ledger.elements(previous.source))
    return tuple(member for member in found if member is not None)


def natural_clashes(
    elements: list[dict[str, Any]], pointer: str | None, natural_key: Callable[[Any], str | None]
) -> dict[int, str]:
    """Elements without an identifier whose natural keys are the same, each with what to say: one record cannot
    be two elements, so every one of them is INVALID, naming the others' paths."""
    seen: dict[str, list[int]] = {}
    for index, element in enumerate(elements):
        if element_identifier(element, pointer) is None:
            natural = natural_key(element)
            if natural is not None:
                seen.setdefault(natural, []).append(index)
    clashes: dict[int, str] = {}
    for natural, indices in seen.items():
        for index in indices if len(indices) > 1 else ():
            others = ", ".join(f"$[{i}]" for i in indices if i != index)
            clashes[index] = (
                f"is the same record as {others} ({natural!r}): elements without an id are known by what they "
                "describe, and two cannot describe the same thing. Remove or merge one, or give each an id."
            )
    return clashes
