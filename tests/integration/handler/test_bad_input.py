"""A corpus of bad inputs, each in one SQS batch with a valid document, through the handler on moto + the emulator.

Every case states the ledger status it must end in and a fragment of the message that explains it. For each:
the ledger says what happened; a failure (INVALID, REJECTED, FAILED) has its dead-letter message, with the same
reason; a transient one (RETRYING) is reported in ``batchItemFailures`` alone and becomes FAILED, dead-lettered,
on the last delivery; the valid document in the same batch is CREATED whatever its neighbour did.

**Duplicate keys** (``{"version": "1.0.0", ..., "version": "9.9.9"}``) are accepted, last one wins. That is what
RFC 8259 leaves to implementations and what every parser on the way does: Python's ``json``, the Gateway's PHP
``json_decode`` and TRASER's ``JSON.parse``. Dropping a file here therefore publishes exactly what posting it to
the Gateway by hand would, and ``hdr-ingest validate`` gives the same verdict. Rejecting would refuse files the
Gateway takes, with no way to publish them unchanged.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import pytest
from botocore.exceptions import ClientError

from hdr_ingest.entry.runtime import get_runtime
from tests.conftest import PACK_DIR, example
from tests.integration.conftest import BUCKET, MAX_RECEIVE, Stack

pytestmark = pytest.mark.integration

DOC = example("schemata/HDRUK/4.0.0/docs.example.json")
REQUIRED = json.loads((PACK_DIR / "HDRUK" / "4.0.0" / "schema.json").read_text(encoding="utf-8"))["required"]
FAILURES = {"INVALID", "REJECTED", "FAILED"}
SIZE_LIMIT = 50_000


def doc(**changes: Any) -> dict[str, Any]:
    """The HDRUK 4.0.0 example with ``changes`` applied: ``summary__title="x"`` sets ``summary.title``; the
    value ``DELETE`` removes the field."""
    document = copy.deepcopy(DOC)
    for dotted, value in changes.items():
        *parents, name = dotted.split("__")
        node = document
        for parent in parents:
            node = node[parent]
        if value is DELETE:
            del node[name]
        else:
            node[name] = value
    return document


DELETE = object()


def raw(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def padded(size: int) -> bytes:
    """A valid document of exactly ``size`` bytes (trailing whitespace is insignificant in JSON)."""
    data = raw(doc(summary__title="A padded dataset"))
    assert len(data) <= size
    return data + b" " * (size - len(data))


def deny_get_object(stack: Stack, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an IAM or bucket policy without s3:GetObject on the object does (moto does not enforce policies)."""
    clients = get_runtime().clients
    assert clients is not None
    s3 = clients.client("s3")  # the client the runtime's object store calls
    real = s3.get_object

    def get_object(**kwargs: Any) -> Any:
        if kwargs["Key"] == key:
            error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
            raise ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")
        return real(**kwargs)

    monkeypatch.setattr(s3, "get_object", get_object)


def delete_object(stack: Stack, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.s3.delete_object(Bucket=BUCKET, Key=key)


@dataclass(frozen=True)
class Case:
    body: bytes
    status: str | frozenset[str] | None  # None: skipped, no ledger item
    fragment: str  # in the ledger's reason or one of its errors (path or message)
    key: str = "incoming/bad-input.json"
    announced: bool = True  # False: the bucket's notification filter would not send it; the event is built here
    before: Callable[[Stack, str, pytest.MonkeyPatch], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Against a hang, not a speed target: a hang is minutes or more (the UrlV2 backtracking below: minutes in the
    # Gateway, longer in Python's re); a case took up to 6 s (most 1 to 3 s) with the machine's load average at 10.
    within_s: float = 30.0
    check: Callable[[Stack, dict[str, Any]], None] | None = None

    @property
    def statuses(self) -> frozenset[str | None]:
        return frozenset(self.status) if isinstance(self.status, frozenset) else frozenset({self.status})


def _last_key_wins(stack: Stack, item: dict[str, Any]) -> None:
    (dataset,) = [d for d in stack.gateway_datasets() if d["datasetid"] == item["datasetid"]]
    assert dataset["metadata"]["version"] == "9.9.9"


def _stored_encoded(stack: Stack, item: dict[str, Any]) -> None:
    (dataset,) = [d for d in stack.gateway_datasets() if d["datasetid"] == item["datasetid"]]
    assert "<script>" not in json.dumps(dataset["metadata"])  # the Gateway stores text HTML-encoded


DUPLICATE_KEYS = raw(doc())[:-1] + b', "version": "9.9.9"}'
NAN = raw(doc(summary__populationSize=123456789)).replace(b"123456789", b"NaN")
INFINITY = raw(doc(summary__populationSize=123456789)).replace(b"123456789", b"-Infinity")
OVERFLOW = raw(doc(summary__populationSize=123456789)).replace(b"123456789", b"1e400")
HDRUK300 = example("gateway-api/hdruk_3p0p0_dataset_min.json")
HTML = "<script>alert('hdr')</script><b>Bold</b> claims & <a href='https://example.org'>a link</a>"

CASES: dict[str, Case] = {
    # --- not a JSON object ------------------------------------------------------------------------------------
    "not JSON": Case(b"dataset_id,title\n1,Asthma cohort\n", "INVALID", "not valid JSON: Expecting value at line 1"),
    "truncated JSON": Case(raw(DOC)[:1000], "INVALID", "not valid JSON"),
    "empty": Case(b"", "INVALID", "is empty"),
    "whitespace only": Case(b" \r\n\t  \n", "INVALID", "is empty"),
    "UTF-8 byte-order mark (valid)": Case(
        b"\xef\xbb\xbf" + raw(doc(summary__title="With a BOM")), "CREATED", "Created"
    ),
    "UTF-16 with BOM": Case(json.dumps(DOC).encode("utf-16"), "INVALID", "encoded as UTF-16"),
    "UTF-16 without BOM": Case(json.dumps(DOC).encode("utf-16-le"), "INVALID", "not valid JSON"),
    "invalid UTF-8": Case(raw(DOC).replace(b"United Kingdom", b"United K\xe9ngdom"), "INVALID", "not valid UTF-8"),
    "array of non-objects": Case(b"[1, 2, 3]", "INVALID", "element 0 is a JSON number"),
    "empty array": Case(b"[]", "INVALID", "empty JSON array"),
    "a scalar": Case(b'"a metadata document"', "INVALID", "not a JSON string"),
    "null": Case(b"null", "INVALID", "not a JSON null"),
    "10,000-level nesting bomb": Case(b"[" * 10_000 + b"]" * 10_000, "INVALID", "nested too deeply"),
    "nesting inside a valid document": Case(
        raw(doc()).replace(b'"summary": {', b'"summary": {"deep": ' + b"[" * 600 + b"]" * 600 + b", ", 1),
        "INVALID",
        "nested more than 64 levels",
    ),
    "comments": Case(b"// exported by the registry\n" + raw(DOC), "INVALID", "not valid JSON"),
    "trailing data": Case(raw(DOC) + b"\n{}", "INVALID", "Extra data"),
    # --- size --------------------------------------------------------------------------------------------------
    "one byte over the size limit": Case(
        padded(SIZE_LIMIT + 1),
        "INVALID",
        f"{SIZE_LIMIT + 1} bytes, over the {SIZE_LIMIT}-byte limit",
        env={"MAX_OBJECT_BYTES": str(SIZE_LIMIT)},
    ),
    "exactly the size limit (valid)": Case(
        padded(SIZE_LIMIT), "CREATED", "Created", env={"MAX_OBJECT_BYTES": str(SIZE_LIMIT)}
    ),
    "a 5 MB string field": Case(raw(doc(summary__abstract="x" * 5_000_000)), "INVALID", "$.summary.abstract"),
    # --- JSON that Python reads but the Gateway cannot take ---------------------------------------------------
    "duplicate keys (last wins, as the Gateway)": Case(DUPLICATE_KEYS, "CREATED", "Created", check=_last_key_wins),
    "NaN": Case(NAN, "INVALID", "non-standard JSON value NaN"),
    "-Infinity": Case(INFINITY, "INVALID", "non-standard JSON value -Infinity"),
    "a number beyond a double (1e400)": Case(OVERFLOW, "INVALID", "too large for the Gateway"),
    "unpaired surrogate escape": Case(
        raw(doc(summary__title="Asthma \\ud800 cohort")).replace(b"\\\\ud800", b"\\ud800"),
        "INVALID",
        "unpaired UTF-16 surrogate",
    ),
    # --- valid JSON, not a publishable document ---------------------------------------------------------------
    "a document of an unsupported schema (DataCite)": Case(
        raw({"data": {"type": "dois", "attributes": {"doi": "10.1234/x", "titles": [{"title": "A dataset"}]}}}),
        "INVALID",
        "matches none of the",
    ),
    "an empty object": Case(b"{}", "INVALID", "matches none of the"),
    **{f"HDRUK 4.0.0 without {name}": Case(raw(doc(**{name: DELETE})), "INVALID", f"$.{name}") for name in REQUIRED},
    "summary without title": Case(raw(doc(summary__title=DELETE)), "INVALID", "$.summary.title"),
    "wrong enum value": Case(raw(doc(coverage__followUp="Forever")), "INVALID", "$.coverage.followUp"),
    "wrong date format": Case(raw(doc(issued="22/11/2024")), "INVALID", "$.issued"),
    "wrong type": Case(raw(doc(summary__populationSize="lots")), "INVALID", "$.summary.populationSize"),
    # https://<uuid> revision URLs make HDRUK 3.0.0's UrlV2 pattern backtrack for minutes (Python's re, the Gateway).
    "HDRUK 3.0.0 pathological revision URL": Case(
        raw(HDRUK300), "INVALID", "$.revisions[0].url", env={"TARGET_SCHEMA": "HDRUK 3.0.0"}
    ),
    "HDRUK 3.0.0 pathological revision URL, schema detected": Case(raw(HDRUK300), "INVALID", "$."),
    # --- valid documents with awkward content -------------------------------------------------------------------
    "HTML and script in text fields": Case(
        raw(doc(summary__abstract=HTML, documentation__description=HTML)), "CREATED", "Created", check=_stored_encoded
    ),
    # The Gateway HTML-encodes text before validating: "> 10 Years" arrives as "&gt; 10 Years" and fails the enum.
    # Judged here as the Gateway will (INVALID, before sending); REJECTED if the Gateway is left to say it.
    "the Gateway's '> 10 Years' encoding quirk": Case(
        raw(doc(coverage__followUp="> 10 Years")), frozenset({"INVALID", "REJECTED"}), "followUp"
    ),
    "the same document wrapped in {metadata}": Case(
        raw({"metadata": doc(summary__title="Wrapped")}), "CREATED", "Created"
    ),
    # --- keys ----------------------------------------------------------------------------------------------------
    "key with spaces": Case(raw(doc()), "CREATED", "Created", key="incoming/Asthma cohort 2024 (final).json"),
    "key with unicode": Case(raw(doc()), "CREATED", "Created", key="incoming/Données résumé – ü 日本.json"),
    "key with +": Case(raw(doc()), "CREATED", "Created", key="incoming/a+b=c.json"),
    "key with %": Case(raw(doc()), "CREATED", "Created", key="incoming/100%25 done %.json"),
    "folder marker (skipped)": Case(b"", None, "", key="incoming/2024/", announced=False),
    "non-.json key": Case(raw(DOC), "INVALID", "not a .json object", key="incoming/dataset.txt", announced=False),
    # --- the object itself --------------------------------------------------------------------------------------
    "object deleted before it is read": Case(raw(DOC), "INVALID", "no longer exists", before=delete_object),
    "access denied on the object": Case(raw(DOC), "RETRYING", "access denied", before=deny_get_object),
}


def _announce(stack: Stack, template: dict[str, Any], key: str, size: int) -> None:
    """Send the notification S3 would send for ``key``, built from a real one (``template``)."""
    body = json.loads(template["Body"])
    record = body["Records"][0]
    record["s3"]["object"].update({"key": quote_plus(key), "size": size, "eTag": uuid.uuid4().hex})
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(body))


def _key(message: dict[str, Any]) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"])


def _text(item: dict[str, Any]) -> str:
    return " ".join([item["reason"], *(f"{e['path']} {e['message']}" for e in item.get("errors", []))])


def _for(letters: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [m for m in letters if m.get("source") == f"s3://{BUCKET}/{key}"]


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_bad_input_is_recorded_and_explained_and_its_batch_unaffected(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    assert len(CASES) >= 30
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    companion = f"incoming/companion-{uuid.uuid4().hex[:8]}.json"
    # a neighbour that is valid under the case's settings (a case may pin TARGET_SCHEMA to HDRUK 3.0.0)
    neighbour = example("traser/hdruk300.json") if case.env.get("TARGET_SCHEMA") == "HDRUK 3.0.0" else None
    stack.put(companion, neighbour or doc(summary__title="The valid neighbour"))
    stack.s3.put_object(Bucket=BUCKET, Key=case.key, Body=case.body)
    if not case.announced:  # the queue's visibility timeout is 0: the neighbour's message is received again
        _announce(stack, stack.receive(1)[0], case.key, len(case.body))
    messages = stack.receive(2)
    bad = next(m for m in messages if _key(m) == case.key)
    good = next(m for m in messages if _key(m) == companion)
    if case.before is not None:
        case.before(stack, case.key, monkeypatch)

    started = time.perf_counter()
    response = stack.deliver([bad, good], receive_count=1)  # the bad record first: its neighbour comes after it
    elapsed = time.perf_counter() - started

    assert stack.ledger(companion)["status"] == "CREATED", stack.ledger(companion)["reason"]
    assert elapsed < case.within_s, f"took {elapsed:.1f} s"
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    letters = stack.dead_letters()
    source = f"s3://{BUCKET}/{case.key}"
    item = stack.table.get_item(Key={"source": source}).get("Item")

    if case.status is None:
        assert item is None and failed == [] and letters == []
        return
    assert item is not None, "no ledger record"
    assert item["status"] in case.statuses, item["reason"]
    assert case.fragment in _text(item), _text(item)
    assert item["key"] == case.key and item["source"] == source
    mine = _for(letters, case.key)
    if item["status"] in FAILURES:
        (letter,) = mine
        assert letter["status"] == item["status"] and letter["reason"] == item["reason"]
        assert (
            letter["event"]["Records"][0]["s3"]["object"]["key"]
            == json.loads(bad["Body"])["Records"][0]["s3"]["object"]["key"]
        )  # replayable as it came
        assert len(json.dumps(letter).encode()) < 256 * 1024  # fits in an SQS message
        assert failed == []
    elif item["status"] == "RETRYING":
        assert mine == [] and failed == [bad["MessageId"]]
        # The last delivery records it as FAILED and dead-letters it.
        assert stack.deliver([bad], receive_count=MAX_RECEIVE) == {"batchItemFailures": []}
        item = stack.ledger(case.key)
        assert item["status"] == "FAILED" and case.fragment in item["reason"]
        (letter,) = _for(stack.dead_letters(), case.key)
        assert letter["status"] == "FAILED" and letter["reason"] == item["reason"]
    else:
        assert mine == [] and failed == []
        assert item.get("dataset_id") is not None
    assert [m for m in letters if m not in mine] == []  # nothing about the neighbour
    if case.check is not None:
        case.check(stack, item)
