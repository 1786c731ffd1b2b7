"""The ports: what the use cases need from the world, as interfaces. Adapters (``hdr_ingest.adapters``) and
destinations (``hdr_ingest.destinations``) implement them; tests pass in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hdr_ingest.core.answers import Answer, RecordId
from hdr_ingest.core.outcome import ErrorDetail, Outcome
from hdr_ingest.core.source_object import SourceObject

if TYPE_CHECKING:
    from concurrent.futures import Future


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    etag: str | None = None
    version_id: str | None = None


class ObjectReadError(Exception):
    """The object could not be read. ``transient`` errors are retried; the others are final."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class ObjectStore(Protocol):
    def read(self, obj: SourceObject, max_bytes: int) -> StoredObject: ...


T = TypeVar("T")


class Background(Protocol):
    """Runs a piece of work beside the caller's: the object's read beside its lease write, two waits that do not
    depend on each other (a ``concurrent.futures`` executor is one)."""

    def submit(self, work: Callable[[], T], /) -> Future[T]: ...


class DeadLetters(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


class Credentials(Protocol):
    """A destination's credentials, in its own shape. Their values never reach a record or a log."""

    def secret_values(self) -> tuple[str, ...]: ...


class CredentialsError(Exception):
    """The secret is missing, unreadable or malformed. The message says what to fix (never the values)."""


class CredentialSource(Protocol):
    def get(self, refresh: bool = False) -> Any: ...


@dataclass(frozen=True)
class Verdict:
    """A destination's judgement of a document before publishing. ``target`` names what it was judged against
    (recorded as the ledger's ``schema``); ``sent_along`` is the destination's own note of what to send with it
    (for HDR UK the schema); ``first_error`` is the one the destination itself would report, when known."""

    valid: bool
    summary: str  # e.g. "has 3 errors against HDRUK 4.0.0"
    errors: tuple[ErrorDetail, ...] = ()
    target: str | None = None
    warnings: tuple[str, ...] = ()
    sent_along: Any = None


@dataclass(frozen=True)
class Call:
    """How one call to a destination may run: with these credentials, waiting at most ``timeout_s`` for an
    answer and ``deadline_s`` for the whole call (both capped by the time left in the invocation)."""

    credentials: Any
    timeout_s: float
    deadline_s: float


class Destination(Protocol):
    """A catalogue that takes dataset metadata. One package per kind in ``hdr_ingest.destinations``."""

    kind: str  # "hdruk", "unis", ...
    url: str
    title: str  # how reasons name the destination: "Gateway", "UNIS"
    noun: str  # and one of its records: "Gateway dataset", "UNIS metadata record"

    def parse(self, data: bytes) -> Any:
        """The object's bytes as this catalogue reads its files: a metadata document or a catalogue's list
        (``core.document.parse_export``), or the catalogue's own format (AEP: JSON records). Raises
        ``core.document.DocumentError`` with a precise reason."""
        ...

    def judge(self, document: Any, text: str) -> Verdict:
        """Judge before publishing (``text`` is the document's canonical JSON)."""
        ...

    def credentials(self, secret: Any, secret_id: str) -> Credentials:
        """The route's secret value, parsed and checked (raise :class:`CredentialsError` saying what to fix)."""
        ...

    def find(self, record_key: str, call: Call) -> Answer:
        """Look a record up by our ``record_key`` (the source's stable key, ``SourceObject.record_key``), archived
        ones included."""
        ...

    def create(self, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer: ...
    def update(self, record_id: RecordId, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer: ...
    def restore(self, record_id: RecordId, call: Call) -> Answer:
        """Bring an archived record back before updating it."""
        ...

    def archive(self, record_id: RecordId, call: Call) -> Answer: ...
    def check(self, record_id: RecordId, call: Call) -> Answer:
        """For a PENDING answer: how the record's processing stands now."""
        ...

    def natural_key(self, element: Any) -> str | None:
        """How an element of a catalogue file that carries no identifier is known across exports, in this
        catalogue's terms (UNIS: ``eventType`` and ``subject.href``); ``None``: it cannot be (it is then INVALID)."""
        ...


class Observer(Protocol):
    def outcome(self, obj: SourceObject, outcome: Outcome) -> None: ...
    def answer(self, destination: str, operation: str, answer: Answer, elapsed_ms: float) -> None: ...


class NullObserver:
    def outcome(self, obj: SourceObject, outcome: Outcome) -> None:
        return None

    def answer(self, destination: str, operation: str, answer: Answer, elapsed_ms: float) -> None:
        return None


class NoCredentials:
    """A route with no secret: its destination takes requests without credentials."""

    def get(self, refresh: bool = False) -> None:
        return None
