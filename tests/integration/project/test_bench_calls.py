"""The bench's call counter over real publishes (scripts/bench/handler_worker.py): our handler and the bare-minimum
one on moto and the Gateway emulator, each publish's AWS and HTTP calls counted, and the "calls per publish" table
the bench prints from them. Behaviour only: the rows and columns, no timing."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.bench.handler import calls_table, run_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    case = {
        "label": "5 KB",
        "size": 5 * 1024,
        "encoded": False,
        "count": 1,
        "runners": ["ours", "bare", "bare+read", "noverify", "nolease"],
    }
    (result,) = run_worker([case])
    return result


def rows(text: str) -> dict[str, list[str]]:
    header, _, *lines = text.splitlines()
    assert [cell.strip() for cell in header.split("|")] == [
        "call",
        "count ours",
        "count bare",
        "median ms ours",
        "median ms bare",
    ]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.split("|")] for line in lines)}


def test_a_create_counts_each_call_of_ours_and_of_the_bare_minimum(measured: dict[str, Any]) -> None:
    table = rows(calls_table(measured["ours create"], measured["bare create"]))
    assert table["S3 GetObject"][:2] == ["1", "1"]
    assert table["DynamoDB UpdateItem (lease)"][:2] == ["1", "0"]
    assert table["DynamoDB PutItem (outcome)"][:2] == ["1", "1"]
    assert table["Gateway POST /api/v1/integrations/datasets"][:2] == ["1", "1"]
    assert all(float(cells[2]) >= 0 for cells in table.values() if cells[0] != "0")
    assert all(float(cells[3]) >= 0 for cells in table.values() if cells[1] != "0")


def test_a_changed_document_is_a_put_and_the_lease_write_a_row_of_its_own(measured: dict[str, Any]) -> None:
    ours, bare = measured["ours changed"], measured["bare changed"]
    table = rows(calls_table(ours, bare))
    assert table["Gateway PUT /api/v1/integrations/datasets/{id}"][:2] == ["1", "1"]
    assert "Gateway POST /api/v1/integrations/datasets" not in table
    assert table["DynamoDB UpdateItem (lease)"][:2] == ["1", "0"]


def test_the_read_back_is_one_more_gateway_get_with_verify_on(measured: dict[str, Any]) -> None:
    on, off = measured["ours create"]["calls"], measured["noverify create"]["calls"]
    gets = {name: count for name, (count, _) in on.items() if name.startswith("Gateway GET")}
    gets_off = {name: count for name, (count, _) in off.items() if name.startswith("Gateway GET")}
    assert sum(gets.values()) == sum(gets_off.values()) + 1


def test_the_bare_minimum_that_reads_back_makes_one_gateway_get_more(measured: dict[str, Any]) -> None:
    for what in ("create", "changed"):
        bare, reading = measured[f"bare {what}"]["calls"], measured[f"bare+read {what}"]["calls"]
        assert reading.pop("Gateway GET /api/v1/datasets/{id}")[0] == 1
        assert {name: count for name, (count, _) in reading.items()} == {
            name: count for name, (count, _) in bare.items()
        }


def test_without_the_lease_write_every_other_call_of_ours_is_made(measured: dict[str, Any]) -> None:
    """The "nolease" runner takes the lease in memory: no lease UpdateItem, and the same calls as ours besides,
    a changed document's PUT included (it found the record its create made, without a lookup)."""
    for what in ("create", "changed"):
        ours = {name: count for name, (count, _) in measured[f"ours {what}"]["calls"].items()}
        unleased = {name: count for name, (count, _) in measured[f"nolease {what}"]["calls"].items()}
        assert ours.pop("DynamoDB UpdateItem (lease)") == 1
        assert unleased == ours
    assert "Gateway PUT /api/v1/integrations/datasets/{id}" in measured["nolease changed"]["calls"]
