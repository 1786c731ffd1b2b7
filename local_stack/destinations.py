"""The local stack's other catalogues: each one's emulator started over real HTTP, its credentials stored in moto's
Secrets Manager, and the route that sends a prefix of the bucket to it. ``make run`` drops their samples too.

Adding a catalogue here: a class with ``start(aws) -> route`` (the ``DESTINATIONS`` entry), ``stop()``,
``endpoint`` (a line for the printed table) and ``samples`` (its folder under ``samples/``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from local_stack.aws import LocalAws

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
QRVEY_API_KEY = "qrvey-local-api-key"
QRVEY_FAILING_TABLE = "pollen_counts_missing"  # the Qrvey samples' failing load


class LocalDestination(Protocol):
    name: str
    samples: Path

    def start(self, aws: LocalAws) -> dict[str, Any]: ...
    def stop(self) -> None: ...
    def endpoint(self) -> str: ...


def store_secret(aws: LocalAws, name: str, value: dict[str, str]) -> str:
    """A route's secret in moto's Secrets Manager; returns its id."""
    secret_id = f"{aws.stack_name}/{name}"
    aws.client("secretsmanager").create_secret(Name=secret_id, SecretString=json.dumps(value))
    return secret_id


class LocalQrvey:
    """Qrvey (``incoming/qrvey/``): loads finish on the next check; loads of one table fail, as scripted."""

    name = "Qrvey"
    samples = SAMPLES_DIR / "qrvey"

    def __init__(self) -> None:
        from local_stack.qrvey_emulator import QrveyEmulator

        self.emulator = QrveyEmulator(api_keys=[QRVEY_API_KEY])

    def start(self, aws: LocalAws) -> dict[str, Any]:
        url = self.emulator.start()
        self.emulator.set_load_steps(0)
        self.emulator.fail_loads(
            f"Table '{QRVEY_FAILING_TABLE}' does not exist in database 'environment'", table=QRVEY_FAILING_TABLE
        )
        secret = store_secret(aws, "qrvey", {"api_key": QRVEY_API_KEY})
        options = {"userId": "local-user", "appId": "local-app"}
        return {"prefix": "incoming/qrvey/", "kind": "qrvey", "url": url, "secret": secret, "options": options}

    def stop(self) -> None:
        self.emulator.stop()

    def endpoint(self) -> str:
        return f"{self.emulator.base_url} (emulator; admin {self.emulator.root_url}/_emulator/datasets)"


def local_destinations() -> list[LocalDestination]:
    """Every other catalogue the local stack runs, in the order their samples are dropped."""
    return [LocalQrvey()]
