from __future__ import annotations

import json

import pytest

from hdr_ingest.destinations.hdruk.answers import (
    AnswerKind,
    answer_for,
    classify,
    found_dataset,
    lookup_answer,
    quote,
)
from hdr_ingest.destinations.http import retry_after_s

pytestmark = pytest.mark.unit

NOTICE = {"Deprecation": "true", "Sunset": "Thurs, 22 Jan 2026 23:59:59 GMT"}


def test_created() -> None:
    # "version" in a create answer is the dataset_versions row id, not the version number
    answer = classify(201, {"message": "created", "data": 42, "version": 7}, NOTICE)
    assert (answer.kind, answer.record_id, answer.record_version) == (AnswerKind.SUCCESS, 42, 1)
    assert answer.deprecation == "true" and answer.sunset.startswith("Thurs")


def test_updated_reads_the_latest_version_of_the_dataset() -> None:
    body = {"message": "success", "data": {"id": 42, "versions": [{"version": 1}, {"version": 3}]}}
    answer = classify(200, body)
    assert (answer.kind, answer.record_id, answer.record_version) == (AnswerKind.SUCCESS, 42, 3)


@pytest.mark.parametrize(
    ("status", "message", "kind", "fix"),
    [
        (401, "Unauthorized", AnswerKind.UNAUTHORISED, "GATEWAY_HEADER_STYLE"),
        (401, "No known integration matches the credentials provided", AnswerKind.UNAUTHORISED, "app_id"),
        (401, "The credentials provided are invalid", AnswerKind.UNAUTHORISED, "client_id"),
        (400, "Application has not been enabled!", AnswerKind.PERMANENT, "enable it"),
        (400, "Application permissions do not allow this request", AnswerKind.PERMANENT, "datasets.create"),
        (
            400,
            "Please provide a x-application-id and x-client-id in your headers",
            AnswerKind.PERMANENT,
            "GATEWAY_HEADER_STYLE=x-headers",
        ),
        (
            500,
            "This Application is not allowed to interact with datasets from another team!",
            AnswerKind.PERMANENT,
            "another Gateway team",
        ),
    ],
)
def test_documented_errors_say_what_to_fix(status: int, message: str, kind: AnswerKind, fix: str) -> None:
    answer = classify(status, {"code": status, "message": message})
    assert answer.kind is kind
    assert answer.message.startswith(message)
    assert fix in answer.message


def test_traser_rejection_keeps_the_gateway_errors() -> None:
    body = {
        "message": "metadata is in an unknown format and cannot be processed",
        "details": {
            "traser_message": {
                "error": "metadata validation failed",
                "details": [
                    {
                        "instancePath": "/summary/title",
                        "message": "must NOT have fewer than 2 characters",
                        "params": {"limit": 2},
                    }
                ],
            },
            "wasTranslated": False,
            "metadata": None,
            "statusCode": 400,
        },
    }
    answer = classify(400, body)
    assert answer.kind is AnswerKind.METADATA_REJECTED
    assert answer.errors[0].path == "$.summary.title"
    assert "fewer than 2 characters" in answer.errors[0].message
    assert "unknown format" in answer.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"code": 500, "message": "Too Many Attempts."}),
        (500, {"code": 500, "message": "Translation Service error. Contact Technical Support"}),
        (502, None),
        (503, {"message": "Service Unavailable"}),
        (429, {"message": "slow down"}),
    ],
)
def test_server_errors_and_throttling_are_transient(status: int, body: object) -> None:
    assert classify(status, body).kind is AnswerKind.TRANSIENT


def test_throttling_is_named() -> None:
    assert "rate limit" in classify(500, {"code": 500, "message": "Too Many Attempts."}).message


def test_missing_dataset_on_update() -> None:
    answer = classify(500, {"code": 500, "message": "No query results for model [App\\Models\\Dataset] 9"})
    assert answer.kind is AnswerKind.NOT_FOUND


def test_form_validation_error_is_permanent_with_fields() -> None:
    body = {
        "status": "INVALID_ARGUMENT",
        "message": "Invalid argument(s)",
        "errors": [{"reason": "EXISTS", "message": "The selected id is invalid.", "field": "id"}],
    }
    answer = classify(400, body)
    assert answer.kind is AnswerKind.PERMANENT
    assert answer.errors[0].path == "$.id"


def test_found_dataset_prefers_active_over_archived() -> None:
    body = {
        "data": [
            {"id": 5, "deleted_at": "2026-01-01", "status": "ARCHIVED"},
            {"id": 3, "deleted_at": None, "versions": [{"version": 2}]},
        ]
    }
    assert found_dataset(body) == (3, False, 2)
    assert found_dataset({"data": [{"id": 5, "deleted_at": "x", "status": "ARCHIVED"}]}) == (5, True, None)
    assert found_dataset({"data": []}) == (None, False, None)


def test_found_dataset_counts_only_our_datasetid() -> None:
    body = {"data": [{"id": 999, "datasetid": "theirs"}, {"id": 4, "datasetid": "ours", "versions": [{"version": 2}]}]}
    assert found_dataset(body, "ours") == (4, False, 2)
    assert found_dataset(body, "OURS") == (None, False, None)  # the Gateway's SQL match ignores case; we do not


# --- success needs evidence ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{}, {"data": "abc"}, {"data": -5}, {"data": True}, {"data": 10**40}, {"data": None}, {"data": {"id": "42"}}],
)
def test_a_created_without_a_dataset_id_is_permanent(body: object) -> None:
    answer = classify(201, body)
    assert answer.kind is AnswerKind.PERMANENT and answer.record_id is None
    assert "HTTP 201 without a dataset id" in answer.message


def test_a_success_that_is_not_a_json_object_is_permanent() -> None:
    answer = classify(200, ["ok"])
    assert answer.kind is AnswerKind.PERMANENT and "['ok']" not in answer.message and '["ok"]' in answer.message


def test_an_update_answer_must_name_the_dataset_sent_and_its_version() -> None:
    mine = {"data": {"id": 42, "versions": [{"version": 2}]}}
    assert classify(200, mine, expected_id=42).record_version == 2
    assert classify(200, mine, expected_id=43).kind is AnswerKind.PERMANENT
    no_version = {"data": {"id": 42, "versions": [{"version": True}, {"version": "3"}]}}
    assert classify(200, no_version, expected_id=42).kind is AnswerKind.PERMANENT
    unlisted = classify(200, {"data": {"id": 42}}, expected_id=42)  # the Gateway listed no versions: none known
    assert (unlisted.kind, unlisted.record_version) == (AnswerKind.SUCCESS, None)


def test_an_archive_needs_only_a_json_object() -> None:
    assert classify(200, {"message": "success"}, needs_id=False).kind is AnswerKind.SUCCESS
    assert classify(200, None, needs_id=False).kind is AnswerKind.PERMANENT


@pytest.mark.parametrize("raw", [b"<html>hi</html>", b'{"data": 4', b"\xff", b""])
def test_an_unreadable_2xx_is_transient_and_unanswered(raw: bytes) -> None:
    answer = answer_for(201, raw, {})
    assert (answer.kind, answer.http_status) == (AnswerKind.TRANSIENT, None)
    assert "whether it took effect is unknown" in answer.message


def test_an_unreadable_error_is_classified_by_its_status() -> None:
    assert answer_for(502, b"<html>Bad Gateway</html>", {}).kind is AnswerKind.TRANSIENT
    refused = answer_for(403, b"<html>\r\nForbidden</html>", {})
    assert refused.kind is AnswerKind.PERMANENT and "Forbidden" in refused.message and "\r" not in refused.message


def test_a_huge_message_is_clipped_with_its_size() -> None:
    answer = classify(500, {"message": "x" * 1_000_000})
    assert answer.kind is AnswerKind.TRANSIENT and len(answer.message) < 1000 and "1000000 characters" in answer.message


def test_a_body_is_quoted_printable_with_its_size() -> None:
    assert quote(b"<html>\n\x00" + b"a" * 500).startswith("'<html>\\n\\x00aaa")
    assert quote(b"a" * 500).endswith("… (500 bytes)")


# --- lookups ------------------------------------------------------------------------------------------------------


def test_a_lookup_trusts_only_our_datasetid() -> None:
    raw = json.dumps({"data": [{"id": 999, "datasetid": "theirs"}]}).encode()
    answer = lookup_answer(200, raw, {}, datasetid="ours")
    assert (answer.kind, answer.record_id, answer.found) == (AnswerKind.SUCCESS, None, False)


@pytest.mark.parametrize("raw", [b"<html></html>", b'{"data": [', b"not json"])
def test_an_unreadable_lookup_is_transient(raw: bytes) -> None:
    assert lookup_answer(200, raw, {}, datasetid="ours").kind is AnswerKind.TRANSIENT


def test_a_lookup_over_the_cap_is_transient() -> None:
    answer = lookup_answer(200, b'{"data": [', {}, complete=False, datasetid="ours")
    assert answer.kind is AnswerKind.TRANSIENT and "size cap" in answer.message


@pytest.mark.parametrize("body", [{"data": {}}, {"items": []}, [1]])
def test_a_lookup_of_another_shape_is_permanent(body: object) -> None:
    assert lookup_answer(200, json.dumps(body).encode(), {}, datasetid="ours").kind is AnswerKind.PERMANENT


# --- Retry-After ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),  # 100 s after the epoch, seen from 40 s
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),  # in the past
        ("-3", None),
        ("soon", None),
        ("1.5", None),
        ("", None),
        (None, None),
        ("9" * 400, 999999999.0),
    ],
)
def test_retry_after_is_read_as_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_s({"Retry-After": value} if value is not None else {}, now=40.0) == seconds


def test_throttling_carries_retry_after_whatever_the_header_case() -> None:
    answer = classify(429, {"message": "Too Many Attempts."}, {"retry-after": "12"})
    assert (answer.kind, answer.retry_after_s) == (AnswerKind.TRANSIENT, 12.0)
    assert classify(429, None).retry_after_s is None
