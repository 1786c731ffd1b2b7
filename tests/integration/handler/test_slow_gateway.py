"""The Gateway slower than the function's read timeout: a POST the function gave up on may still create the dataset.

A lookup by ``datasetid`` cannot see a dataset that is still being created, so after a POST with no answer the
function never POSTs again in the same delivery: it only looks the dataset up, and updates it once it is there.
The next delivery comes after the visibility timeout, by which time the Gateway has finished.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from hdr_ingest.entry.runtime import get_runtime
from tests.conftest import example
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

DOC = example("schemata/HDRUK/4.0.0/docs.example.json")
READ_TIMEOUT_S = 2.0  # DESTINATION_READ_TIMEOUT in the integration stack


def slow_first_post(stack: Stack, monkeypatch: pytest.MonkeyPatch, seconds: float) -> list[float]:
    """The first dataset the Gateway stores takes ``seconds``; returns when each store began."""
    real = stack.emulator._store_dataset
    posts: list[float] = []

    def store(*args: Any, **kwargs: Any) -> Any:
        posts.append(time.monotonic())
        if len(posts) == 1:
            time.sleep(seconds)  # still creating when the function's read timeout expires
        return real(*args, **kwargs)

    monkeypatch.setattr(stack.emulator, "_store_dataset", store)
    return posts


def test_a_post_that_outlasts_the_read_timeout_is_looked_up_not_sent_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Backoffs of 0.67 s then 1.26 s (a seeded draw): the second try (a lookup) comes 0.67 s after the timeout,
    # the third 1.9 s after it; the Gateway, 0.3 s slower than the timeout, has finished by the second or, on a
    # loaded machine that delays it up to 1.6 s, by the third.
    get_runtime().pipeline.use_cases.caller.rng = random.Random(0)
    posts = slow_first_post(stack, monkeypatch, READ_TIMEOUT_S + 0.3)
    assert stack.drop_and_invoke("incoming/slow.json", DOC, receive_count=1) == {"batchItemFailures": []}
    item = stack.ledger("incoming/slow.json")
    (dataset,) = stack.gateway_datasets()
    assert item["status"] == "UPDATED" and int(item["dataset_id"]) == dataset["id"]
    assert len(posts) == 1


def test_a_post_still_running_after_every_retry_is_found_on_the_next_delivery(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = slow_first_post(stack, monkeypatch, READ_TIMEOUT_S + 6)
    stack.put("incoming/slower.json", DOC)
    messages = stack.receive()
    response = stack.deliver(messages, receive_count=1)
    assert response == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    item = stack.ledger("incoming/slower.json")
    assert item["status"] == "RETRYING" and "did not answer" in item["reason"]
    assert len(posts) == 1  # looked up again, never POSTed twice

    deadline = time.monotonic() + 15
    while not stack.gateway_datasets() and time.monotonic() < deadline:  # the Gateway finishes meanwhile
        time.sleep(0.2)
    assert stack.deliver(messages, receive_count=2) == {"batchItemFailures": []}
    (dataset,) = stack.gateway_datasets()
    item = stack.ledger("incoming/slower.json")
    assert item["status"] == "UPDATED" and int(item["dataset_id"]) == dataset["id"]
    assert len(posts) == 1
