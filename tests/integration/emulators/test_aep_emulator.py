"""The AEP emulator over HTTP: IMS, Adobe's gateway header errors (the troubleshooting page's codes and messages,
checked here since no service spec lists them), the Schema Registry's Accept check, and fault injection."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from local_stack.aep_emulator import DEFAULT_SCHEMA_ID, AepClient, AepEmulator, Fault
from tests.integration.conftest import Emulators

pytestmark = pytest.mark.integration

CLIENT = AepClient("client-1", "secret-1", frozenset({"openid", "AdobeID"}))
XED_FULL = "application/vnd.adobe.xed-full+json; version=1"


@pytest.fixture
def aep(aep_emulators: Emulators[AepEmulator]) -> AepEmulator:
    return aep_emulators(clients=[CLIENT])


def token(aep: AepEmulator, **form: str) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": "secret-1",
        "scope": "openid,AdobeID",
        **form,
    }
    return requests.post(aep.ims_url + "/ims/token/v3", data=data, timeout=5)


def headers(aep: AepEmulator, **overrides: str | None) -> dict[str, str]:
    base = {
        "Authorization": "Bearer " + token(aep).json()["access_token"],
        "x-api-key": "client-1",
        "x-gw-ims-org-id": aep.org_id,
        "x-sandbox-name": "prod",
        "Accept": "application/json",
    }
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def get(aep: AepEmulator, path: str, **overrides: str | None) -> requests.Response:
    return requests.get(aep.base_url + "/data/foundation" + path, headers=headers(aep, **overrides), timeout=5)


def test_ims_issues_tokens_and_refuses_bad_clients(aep: AepEmulator) -> None:
    body = token(aep).json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 86399 and body["access_token"]
    refusals: dict[str, Any] = {
        "client_id": (400, "invalid_client"),
        "client_secret": (401, "invalid_client"),
        "scope": (400, "invalid_scope"),
        "grant_type": (400, "unsupported_grant_type"),
    }
    for field, (status, error) in refusals.items():
        answer = token(aep, **{field: "wrong"})
        assert (answer.status_code, answer.json()["error"]) == (status, error)


@pytest.mark.parametrize(
    ("overrides", "status", "code", "message"),
    [
        ({"Authorization": None}, 403, "403010", "Oauth token is missing."),
        ({"Authorization": "Bearer nonsense"}, 401, "401013", "Oauth token is not valid"),
        ({"x-api-key": None}, 403, "403000", "Api Key is required"),
        ({"x-api-key": "someone-else"}, 403, "403003", "Api Key is invalid"),
        ({"x-gw-ims-org-id": None}, 400, "400003", "Missing header x-gw-ims-org-id"),
        ({"x-sandbox-name": None}, 400, "400003", "Missing header x-sandbox-name"),
        ({"x-gw-ims-org-id": "OTHER@AdobeOrg"}, 403, "403025", "Profile is not valid"),
    ],
)
def test_the_gateway_header_errors(
    aep: AepEmulator, overrides: dict[str, str | None], status: int, code: str, message: str
) -> None:
    answer = get(aep, "/catalog/dataSets", **overrides)
    assert (answer.status_code, answer.json()) == (status, {"error_code": code, "message": message})


def test_an_expired_token_is_refused(aep: AepEmulator) -> None:
    sent = headers(aep)
    aep.expire_tokens()
    answer = requests.get(aep.base_url + "/data/foundation/catalog/dataSets", headers=sent, timeout=5)
    assert answer.json()["error_code"] == "401013"


def test_the_schema_registry_wants_an_xed_accept(aep: AepEmulator) -> None:
    path = "/schemaregistry/tenant/schemas/" + requests.utils.quote(DEFAULT_SCHEMA_ID, safe="")
    assert get(aep, path).status_code == 406
    answer = get(aep, path, Accept=XED_FULL)
    assert answer.status_code == 200 and answer.json()["$id"] == DEFAULT_SCHEMA_ID


def test_a_body_needs_its_content_type(aep: AepEmulator) -> None:
    sent = {**headers(aep), "Content-Type": "text/plain"}
    answer = requests.post(aep.base_url + "/data/foundation/import/batches", data="{}", headers=sent, timeout=5)
    assert answer.status_code == 400 and answer.json()["detail"] == "A valid content-type must be specified"


def test_faults_answer_a_status_with_retry_after_then_stop(aep: AepEmulator) -> None:
    aep.add_fault(Fault(429, "/catalog/", times=2, retry_after="3"))
    first, second, third = (get(aep, "/catalog/dataSets") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "3"


def test_a_latency_fault_holds_the_answer(aep: AepEmulator) -> None:
    aep.add_fault(Fault(None, "/catalog/", delay_s=2.0))
    with pytest.raises(requests.Timeout):
        requests.get(aep.base_url + "/data/foundation/catalog/dataSets", headers=headers(aep), timeout=(3, 0.2))
