"""The HDR UK Gateway behind the ``Destination`` port: its client's answers in the pipeline's words, and the
Gateway-faithful judge as the verdict before publishing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.verification import ReadBack
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.datasets_route import removed_route
from hdr_ingest.destinations.hdruk.options import Api
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef

if TYPE_CHECKING:
    # Imported where a document is judged: importing the judge costs a cold start about 35 ms.
    from hdr_ingest.destinations.hdruk.judge import ValidationMode


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

    def judge(self, document: Any, text: str) -> Verdict:
        from hdr_ingest.destinations.hdruk.judge import Route, judge_for  # lazily: see the import at the top

        route = Route.INTEGRATIONS if self.api is Api.INTEGRATIONS else Route.DATASETS_V1
        judgement = judge_for(self._pack(), route).judge(document, self.target_schema, self.validation_mode, text=text)
        report, send = judgement.report, judgement.schema_to_send
        if not report.valid:
            target = str(report.schema) if report.schema else None
            return Verdict(False, report.summary, report.errors, target, judgement.warnings)
        return Verdict(True, report.summary, (), str(send) if send else None, judgement.warnings, sent_along=send)

    def credentials(self, secret: Any, secret_id: str) -> AppCredentials:
        return AppCredentials.from_secret(secret, secret_id)

    def _routed(self, answer: Answer) -> Answer:
        """On the integrations route, a 404 or 410 means the route is gone: the message names the way on."""
        return removed_route(answer) if self.api is Api.INTEGRATIONS else answer

    def find(self, key: str, call: Call) -> Answer:
        answer = self.gateway.find(key, call.credentials, call.timeout_s, deadline_s=call.deadline_s)
        return self._routed(answer)

    def create(self, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        answer = self.gateway.create(
            document, verdict.sent_along, key, call.credentials, call.timeout_s, deadline_s=call.deadline_s
        )
        return _created(self._routed(answer))

    def update(self, record_id: RecordId, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        answer = self.gateway.update(
            int(record_id), document, verdict.sent_along, call.credentials, call.timeout_s, deadline_s=call.deadline_s
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
        """The document as the Gateway keeps it (``original_metadata``) after this route's clean-up."""
        from hdr_ingest.destinations.hdruk.readback import expected

        return expected(document, self.api)

    def read_back(self, record_id: RecordId, record_key: str, call: Any) -> ReadBack:
        """``GET /api/v1/datasets/{id}``, public, on either route: the latest version's received document."""
        return self.gateway.show(int(record_id), call.credentials, call.timeout_s, deadline_s=call.deadline_s)


def _created(answer: Answer) -> Answer:
    """A create or update answered 201 made a new dataset."""
    return replace(answer, created=True) if answer.kind is AnswerKind.SUCCESS and answer.http_status == 201 else answer
