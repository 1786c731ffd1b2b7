from __future__ import annotations

import pytest

from hdr_ingest.destinations.hdruk.answers import AnswerKind, classify, found_dataset

pytestmark = pytest.mark.unit

NOTICE = {"Deprecation": "true", "Sunset": "Thurs, 22 Jan 2026 23:59:59 GMT"}


def test_created() -> None:
    # "version" in a create answer is the dataset_versions row id, not the version number
    answer = classify(201, {"message": "created", "data": 42, "version": 7}, NOTICE)
    assert (answer.kind, answer.dataset_id, answer.dataset_version) == (AnswerKind.SUCCESS, 42, 1)
    assert answer.deprecation == "true" and answer.sunset.startswith("Thurs")


def test_updated_reads_the_latest_version_of_the_dataset() -> None:
    body = {"message": "success", "data": {"id": 42, "versions": [{"version": 1}, {"version": 3}]}}
    answer = classify(200, body)
    assert (answer.kind, answer.dataset_id, answer.dataset_version) == (AnswerKind.SUCCESS, 42, 3)


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
