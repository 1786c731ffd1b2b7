"""The HDR UK Gateway behind the ``Destination`` port: its client's answers in the pipeline's words, and the
Gateway-faithful judge as the verdict before publishing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.document import parse_export
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.verification import ReadBack
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.datasets_route import removed_route
from hdr_ingest.destinations.hdruk.options import Api
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef

if TYPE_CHECKING:
    # Imported where a document is judged: importing the judge costs a cold start about 35 ms.
    from hdr_ingest.destinations.hdruk.judge import ValidationMode


NOT_JUDGED: Any = object()
"""``SentAlong.judged`` when the judge did not clean the document up (``held_as`` is then computed on first use)."""


@dataclass(frozen=True, eq=False)
class SentAlong:
    """HDR UK's note on a valid verdict (``Verdict.sent_along``), handed back to ``create``/``update`` and to
    ``expected``: the ``schema`` to send as ``input_schema``/``input_version``, and ``held_as``, what the Gateway
    will keep as ``original_metadata`` for ``document`` sent through ``api`` (its clean-up applied). ``held_as`` is
    the judge's own cleaned document (``Judgement.received``) when the judge computed it, so a read-back does not
    clean the document up a second time; otherwise it is computed on first use (``readback.expected``)."""

    schema: SchemaRef | None
    document: Any = field(repr=False)
    api: Api
    judged: Any = field(default=NOT_JUDGED, repr=False)

    @cached_property
    def held_as(self) -> Any:
        if self.judged is not NOT_JUDGED:
            return self.judged
        from hdr_ingest.destinations.hdruk.readback import expected  # lazily: it imports the judge

        return expected(self.document, self.api)

    def made_for(self, document: Any, api: Api) -> bool:
        """Whether this note was made for this very ``document`` object, sent through ``api``."""
        return self.document is document and self.api is api


def schema_to_send(sent_along: Any) -> SchemaRef | None:
    """The schema a verdict's note names (a bare ``SchemaRef`` too); None lets the Gateway detect it."""
    if isinstance(sent_along, SentAlong):
        return sent_along.schema
    return sent_along if isinstance(sent_along, SchemaRef) else None


class Gateway(Protocol):
    """The Gateway's integrations API (``client.GatewayClient``; tests pass fakes)."""

    def create(
        self,
        document: dict[str, Any],
        schema: SchemaRef | None,
        datasetid: str,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> Answer: ...
    def update(
        self,
        dataset_id: int,
        document: dict[str, Any],
        schema: SchemaRef | None,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> Answer: ...
    def find(
        self, datasetid: str, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> Answer: ...
    def archive(
        self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> Answer: ...
    def unarchive(
        self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> Answer: ...
    def show(
        self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> ReadBack: ...


class HdrukDestination:
    kind = "hdruk"
    title = "Gateway"
    noun = "Gateway dataset"

    def __init__(
        self,
        url: str,
        gateway: Gateway,
        pack: Callable[[], SchemaPack],
        target_schema: SchemaRef | None = None,
        validation_mode: ValidationMode | str = "gateway",
        api: Api = Api.INTEGRATIONS,
    ) -> None:
        self.url = url
        self.api = api
        self.gateway = gateway
        self._pack = pack
        self.target_schema = target_schema
        self.validation_mode = validation_mode

    parse = staticmethod(parse_export)  # its files are metadata documents, or a catalogue's list of them

    def judge(self, document: Any, text: str) -> Verdict:
        from hdr_ingest.destinations.hdruk.judge import Route, judge_for  # lazily: see the import at the top
        from hdr_ingest.destinations.hdruk.judge.records import MISSING

        route = Route.INTEGRATIONS if self.api is Api.INTEGRATIONS else Route.DATASETS_V1
        judgement = judge_for(self._pack(), route).judge(document, self.target_schema, self.validation_mode, text=text)
        report, send = judgement.report, judgement.schema_to_send
        if not report.valid:
            target = str(report.schema) if report.schema else None
            return Verdict(False, report.summary, report.errors, target, judgement.warnings)
        received = judgement.received
        note = SentAlong(send, document, self.api, NOT_JUDGED if received is MISSING else received)
        return Verdict(True, report.summary, (), str(send) if send else None, judgement.warnings, sent_along=note)

    def credentials(self, secret: Any, secret_id: str) -> AppCredentials:
        return AppCredentials.from_secret(secret, secret_id)

    def _routed(self, answer: Answer) -> Answer:
        """On the integrations route, a 404 or 410 means the route is gone: the message names the way on."""
        return removed_route(answer) if self.api is Api.INTEGRATIONS else answer

    def find(self, record_key: str, call: Call) -> Answer:
        answer = self.gateway.find(record_key, call.credentials, call.timeout_s, deadline_s=call.deadline_s)
        return self._routed(answer)

    def create(self, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        schema = schema_to_send(verdict.sent_along)
        answer = self.gateway.create(
            document, schema, record_key, call.credentials, call.timeout_s, deadline_s=call.deadline_s
        )
        return _created(self._routed(answer))

    def update(self, record_id: RecordId, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        schema = schema_to_send(verdict.sent_along)
        answer = self.gateway.update(
            int(record_id), document, schema, call.credentials, call.timeout_s, deadline_s=call.deadline_s
        )
        return _created(self._routed(answer))

    def restore(self, record_id: RecordId, call: Call) -> Answer:
        return self.gateway.unarchive(int(record_id), call.credentials, call.timeout_s, deadline_s=call.deadline_s)

    def archive(self, record_id: RecordId, call: Call) -> Answer:
        answer = self.gateway.archive(int(record_id), call.credentials, call.timeout_s, deadline_s=call.deadline_s)
        return self._routed(answer)

    def check(self, record_id: RecordId, call: Call) -> Answer:
        """The Gateway publishes as it answers: nothing is ever pending."""
        return Answer(AnswerKind.SUCCESS, None, "published", record_id=record_id)

    def natural_key(self, element: Any) -> str | None:
        """An element of a catalogue file is known only by its own identifier here."""
        return None

    # -- read-back (core.verification.ReadsBack) -----------------------------------------------------------
    def expected(self, document: Any, sent_along: Any) -> Any:
        """The document as the Gateway keeps it (``original_metadata``) after this route's clean-up: the verdict's
        note's ``held_as`` when the note was made for this document on this route, else computed here."""
        if isinstance(sent_along, SentAlong) and sent_along.made_for(document, self.api):
            return sent_along.held_as
        from hdr_ingest.destinations.hdruk.readback import expected

        return expected(document, self.api)

    def read_back(self, record_id: RecordId, record_key: str, call: Any) -> ReadBack:
        """``GET /api/v1/datasets/{id}``, public, on either route: the latest version's received document."""
        return self.gateway.show(int(record_id), call.credentials, call.timeout_s, deadline_s=call.deadline_s)


def _created(answer: Answer) -> Answer:
    """A create or update answered 201 made a new dataset."""
    return replace(answer, created=True) if answer.kind is AnswerKind.SUCCESS and answer.http_status == 201 else answer
