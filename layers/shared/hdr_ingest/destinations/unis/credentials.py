"""A UNIS route's optional secret: a client certificate and key (PEM) for servers that require TLS client
authentication, and optionally the CA bundle (PEM) that signed the server's certificate."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdr_ingest.core.ports import CredentialsError

SHAPE = '{"cert_pem": "-----BEGIN CERTIFICATE-----...", "key_pem": "-----BEGIN PRIVATE KEY-----..."}'
_MARKERS = {"cert_pem": "CERTIFICATE", "key_pem": "PRIVATE KEY", "ca_pem": "CERTIFICATE"}
_FILES_LOCK = threading.Lock()
_FILES: dict[str, tuple[str, str, str | None]] = {}


@dataclass(frozen=True)
class ClientCertificate:
    """PEM text; the key is a secret: never log it."""

    cert_pem: str = field(repr=False)
    key_pem: str = field(repr=False)
    ca_pem: str | None = field(default=None, repr=False)

    @classmethod
    def from_secret(cls, value: Any, secret_id: str) -> ClientCertificate:
        if not isinstance(value, dict):
            raise CredentialsError(f"secret {secret_id!r} must hold a JSON object {SHAPE} (ca_pem optional)")
        problems = [
            f"{name} (PEM text with a BEGIN {marker} line)"
            for name, marker in _MARKERS.items()
            if (name != "ca_pem" or value.get(name) is not None) and not _is_pem(value.get(name), marker)
        ]
        if problems:
            raise CredentialsError(f"secret {secret_id!r} lacks or garbles {', '.join(problems)}: it must hold {SHAPE}")
        return cls(value["cert_pem"], value["key_pem"], value.get("ca_pem"))

    def secret_values(self) -> tuple[str, ...]:
        return (self.key_pem,)

    def files(self) -> tuple[str, str, str | None]:
        """Paths of the certificate, key and CA bundle written once per container (``requests`` reads files),
        readable by this user only."""
        digest = hashlib.sha256("\0".join((self.cert_pem, self.key_pem, self.ca_pem or "")).encode()).hexdigest()
        with _FILES_LOCK:
            if digest not in _FILES:
                folder = Path(tempfile.mkdtemp(prefix="hgi-unis-"))
                cert, key = _write(folder / "cert.pem", self.cert_pem), _write(folder / "key.pem", self.key_pem)
                ca = _write(folder / "ca.pem", self.ca_pem) if self.ca_pem else None
                _FILES[digest] = (cert, key, ca)
            return _FILES[digest]


def _is_pem(value: Any, marker: str) -> bool:
    return isinstance(value, str) and "-----BEGIN " in value and marker in value


def _write(path: Path, text: str) -> str:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)
    return str(path)
