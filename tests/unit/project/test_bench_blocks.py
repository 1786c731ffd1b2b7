"""The bench's building blocks on tiny inputs (``make bench``, scripts/bench/): the table it prints, the names it
gives each AWS and HTTP call, and the judge section over three example documents. Behaviour only: no figure is
asserted, only that the rows and columns are there."""

from __future__ import annotations

import pytest

from scripts.bench import common
from scripts.bench.__main__ import main, parse
from scripts.bench.calls import aws_name, http_name

pytestmark = pytest.mark.unit


def test_the_table_names_each_area_once_and_marks_targets() -> None:
    rows = [
        common.Row("judge", "median per document", "1.20 ms", "<= 2.5 ms", True),
        common.Row("judge", "verdicts that agree", "3/3"),
        common.Row("cli", "hdr-ingest validate FILE", "300 ms", "<= 250 ms", False),
    ]
    lines = common.render(rows).splitlines()
    assert [cell.strip() for cell in lines[0].split("|")] == ["area", "measure", "figure", "target", "met"]
    assert set(lines[1]) <= {"-", "+"}
    cells = [[cell.strip() for cell in line.split("|")] for line in lines[2:]]
    assert [c[0] for c in cells] == ["judge", "", "cli"]
    assert [c[-1] for c in cells] == ["yes", "", "NO"]
    assert cells[1][1:4] == ["verdicts that agree", "3/3", ""]


def test_durations_read_in_their_unit_whatever_their_sign() -> None:
    assert [common.ms(s) for s in (0.0004, 0.0123, 0.5, -0.0048)] == ["400.0 µs", "12.30 ms", "500 ms", "-4.80 ms"]


def test_a_small_table_aligns_its_columns() -> None:
    text = common.table(["call", "count ours"], [["S3 GetObject", "1"], ["Gateway POST /api/v1/x", "1"]])
    first, rule, *rest = text.splitlines()
    assert first.index("|") == rule.index("+") == rest[0].index("|") == rest[1].index("|")


def test_calls_are_named_for_a_reader() -> None:
    lease = {"UpdateExpression": "SET lease_owner = :owner, lease_until = :until"}
    release = {"UpdateExpression": "REMOVE lease_owner, lease_until"}
    assert aws_name("dynamodb", "UpdateItem", lease) == "DynamoDB UpdateItem (lease)"
    assert aws_name("dynamodb", "UpdateItem", release) == "DynamoDB UpdateItem (release)"
    assert aws_name("dynamodb", "PutItem", {}) == "DynamoDB PutItem (outcome)"
    assert aws_name("s3", "GetObject", {}) == "S3 GetObject"
    assert aws_name("secretsmanager", "GetSecretValue", {}) == "Secrets Manager GetSecretValue"
    url = "http://127.0.0.1:4010/api/v1/integrations/datasets/42?input_schema=HDRUK"
    assert http_name("PUT", url) == "Gateway PUT /api/v1/integrations/datasets/{id}"


def test_quick_means_few_runs_and_a_small_bulk_and_unknown_sections_are_refused() -> None:
    quick = parse(["--quick", "--only", "judge,cli"])
    assert (quick.runs, quick.files, quick.chosen) == (3, 100, ["judge", "cli"])
    assert parse(["--files", "20", "--quick"]).files == 20
    with pytest.raises(SystemExit):
        parse(["--only", "speed"])


def test_the_judge_section_over_three_examples(capsys: pytest.CaptureFixture[str]) -> None:
    common.ROWS.clear()
    assert main(["--only", "judge", "--examples", "3", "--quick"]) == 0
    out = capsys.readouterr().out
    common.ROWS.clear()
    assert "| measure" in out and "| target" in out
    assert "median per document, 3 examples, auto mode" in out
    agree = next(line for line in out.splitlines() if "verdicts that agree with the recorded ones" in line)
    assert "/51 " in agree  # 3 documents x 17 schemas
    assert "targets met" in out.splitlines()[-1]
