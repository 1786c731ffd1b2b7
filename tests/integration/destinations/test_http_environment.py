"""What the shared transport (``destinations/http.py``) takes from the environment, read once per transport rather
than on every request: a proxy (honouring NO_PROXY) and the CA bundle, and never the credentials of a ~/.netrc.
The proxy is a local server that records the absolute-form request line a client sends to a proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdr_ingest.destinations import http
from hdr_ingest.destinations.http import Reply, Transport
from tests.integration.destinations.hdruk.test_hostile_gateway import (
    answer,
    certificate,  # noqa: F401 - the fixture, for the TLS test below
    json_answer,
    serving,
    tls_context,
)

pytestmark = pytest.mark.integration

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def request_line(raw: bytes) -> bytes:
    return raw.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY", "ALL_PROXY"])
def test_a_proxy_set_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    with serving(answer(200, b"{}")) as proxy:
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.sock.getsockname()[1]}")
        got = Transport("UNIS").call("GET", "http://unis.example:8888/metadata?limit=1", timeout_s=5.0)
    assert isinstance(got, Reply) and got.status == 200 and got.raw == b"{}"
    assert [request_line(raw) for raw in proxy.requests] == [b"GET http://unis.example:8888/metadata?limit=1 HTTP/1.1"]


def test_no_proxy_bypasses_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(answer(200, b"{}")) as proxy, serving(answer(200, b"[]")) as unis:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.sock.getsockname()[1]}")
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        got = Transport("UNIS").call("GET", unis.url, timeout_s=5.0)
    assert isinstance(got, Reply) and got.raw == b"[]"
    assert proxy.requests == [] and [request_line(raw) for raw in unis.requests] == [b"GET /api/v1 HTTP/1.1"]


def test_the_environment_is_read_once_per_host_not_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    real = http.get_environ_proxies

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        looked_up.append(url)
        return real(url, no_proxy)

    monkeypatch.setattr(http, "get_environ_proxies", counting)
    with serving(answer(200, b"{}")) as server:
        origin = server.url.removesuffix("/api/v1")
        transport = Transport("Qrvey")
        replies = [transport.call("GET", f"{server.url}/{n}", timeout_s=5.0) for n in range(20)]
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # set after the first call: this transport keeps going
        later = transport.call("GET", server.url, timeout_s=5.0)
    assert all(isinstance(reply, Reply) and reply.status == 200 for reply in [*replies, later])
    assert looked_up == [origin] and len(server.requests) == 21


def test_a_netrc_adds_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password from-the-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    with serving(answer(200, b"{}")) as server:
        without = Transport("AEP").call("GET", server.url, timeout_s=5.0)
        own = Transport("AEP").call("GET", server.url, timeout_s=5.0, headers={"Authorization": "Bearer t0ken"})
    assert isinstance(without, Reply) and isinstance(own, Reply)
    first, second = (raw.lower() for raw in server.requests)
    assert b"authorization" not in first
    assert b"authorization: bearer t0ken\r\n" in second and second.count(b"authorization") == 1


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_ca_bundle_the_environment_names_is_trusted(
    certificate: tuple[Path, Path],  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with serving(json_answer(200, {"data": []}), tls=tls_context(certificate)) as server:
        refused = Transport("The Gateway").call("GET", server.url, timeout_s=5.0)
        monkeypatch.setenv(variable, str(certificate[0]))
        trusted = Transport("The Gateway").call("GET", server.url, timeout_s=5.0)
    assert not isinstance(refused, Reply) and "certificate verify failed" in refused.message
    assert isinstance(trusted, Reply) and trusted.status == 200
