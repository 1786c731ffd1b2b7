"""Issue 24 (the operator's view): `drop --wait` and `invoke` follow PENDING to the end and exit 0/1/3, status
reads at any width, and a user's mistake is one line and exit 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hdr_ingest_cli.drop as drop
from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import ErrorDetail, Status
from hdr_ingest_cli.status import Row
from tests.conftest import ROOT
from tests.integration.cli.test_cli import FakeStack, fake_stack, ledger_entry, moto_server, no_state, run

__all__ = ["fake_stack", "moto_server", "no_state"]  # the fixtures these tests share with test_cli

STAMP = "2026-01-01T00:00:0{}.000Z"


def _entry(stack: FakeStack, key: str, status: Status, n: int = 0, **extra: Any) -> LedgerEntry:
    return LedgerEntry(
        source=f"s3://{stack.bucket}/{key}",
        status=status,
        reason=extra.pop("reason", status.value.title()),
        bucket=stack.bucket,
        key=key,
        record_key="hgi-x",
        updated_at=STAMP.format(n),
        **extra,
    )


def _later(monkeypatch: pytest.MonkeyPatch, *steps: Any) -> None:
    """Each pause of the wait runs the next step (the function finishing its work), then no more."""
    todo = list(steps)

    def pause(_seconds: float) -> None:
        if todo:
            todo.pop(0)()

    monkeypatch.setattr(drop.time, "sleep", pause)


def _file(tmp_path: Path, name: str = "x.json") -> Path:
    path = tmp_path / name
    path.write_text('{"id": 1}', encoding="utf-8")
    return path


def test_drop_wait_follows_pending_until_created_and_exits_0(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ledger = DynamoDbLedger(fake_stack.table)
    _later(
        monkeypatch,
        lambda: ledger.record(_entry(fake_stack, "incoming/x.json", Status.PENDING, 1)),
        lambda: None,  # still PENDING on the next look: the wait must not stop there
        lambda: ledger.record(_entry(fake_stack, "incoming/x.json", Status.CREATED, 2, record_id=7)),
    )
    code, out, _ = run(capsys, "drop", "--wait", "--timeout", "120", str(_file(tmp_path)))
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("incoming/x.json")]
    assert "CREATED" in line and "PENDING" not in out


def test_drop_wait_exits_1_when_a_catalogue_element_ends_invalid(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ledger = DynamoDbLedger(fake_stack.table)
    cat = "incoming/cat.json"

    def file_done() -> None:
        ledger.record(_entry(fake_stack, cat, Status.CREATED, 1, members=("a", "b")))
        ledger.record(_entry(fake_stack, f"{cat}#a", Status.CREATED, 1, record_id=1))
        ledger.record(_entry(fake_stack, f"{cat}#b", Status.PENDING, 1))

    error = ErrorDetail("$.name", "is required")
    _later(
        monkeypatch,
        file_done,
        lambda: ledger.record(_entry(fake_stack, f"{cat}#b", Status.INVALID, 2, errors=(error,), errors_total=1)),
    )
    code, out, _ = run(capsys, "drop", "--wait", "--timeout", "120", str(_file(tmp_path, "cat.json")))
    assert code == 1
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("  #")] == [
        ["#a", "CREATED"],
        ["#b", "INVALID"],
    ]


def test_drop_wait_exits_3_for_a_record_still_pending_at_the_timeout(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ledger = DynamoDbLedger(fake_stack.table)
    _later(monkeypatch, lambda: ledger.record(_entry(fake_stack, "incoming/x.json", Status.PENDING, 1)))
    code, out, err = run(capsys, "drop", "--wait", "--timeout", "0.5", str(_file(tmp_path)))
    assert code == 3
    assert "PENDING" in out  # where it stands, in the table
    assert f"still not final after 0.5 s: s3://{fake_stack.bucket}/incoming/x.json" in err


# --- clean output: a user's mistake is one line and exit 2; metric lines and library warnings on request ------


def test_bad_options_json_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "validate", "--kind", "unis", "--options", "{bad", str(_file(tmp_path)))
    assert code == 2 and out == ""
    assert err.startswith("hdr-ingest validate: error: --options is not JSON") and len(err.splitlines()) == 1
    code, _, err = run(capsys, "validate", "--kind", "unis", "--options", "[1]", str(_file(tmp_path)))
    assert code == 2 and "--options must be a JSON object" in err and "Traceback" not in err


def test_status_of_a_table_that_does_not_exist_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack
) -> None:
    code, out, err = run(capsys, "status", "--table", "nosuch")
    assert code == 2 and out == ""
    assert err.startswith("hdr-ingest status: error: ") and len(err.splitlines()) == 1
    assert "check --table" in err


def test_invoke_shows_metric_lines_and_powertools_warnings_only_when_verbose(tmp_path: Path) -> None:
    env_file = tmp_path / "env.json"
    function = {"GATEWAY_SECRET_ID": "hgi/gateway-app", "LEDGER_TABLE": "ledger", "AWS_ENDPOINT_URL": ""}
    function["DLQ_URL"] = "https://sqs.eu-west-2.amazonaws.com/123456789012/dlq"
    env_file.write_text(json.dumps({"IngestFunction": function}), encoding="utf-8")
    paths = os.pathsep.join(str(ROOT / p) for p in ("layers/shared", "functions/ingest", "."))
    env = {**os.environ, "PYTHONPATH": paths, "HGI_LOCAL_STATE": str(tmp_path / "none.json"), "LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "hdr_ingest_cli", "invoke", str(ROOT / "events" / "sqs-s3-test-event.json")]
    command += ["--env-file", str(env_file)]
    # Each in a process of its own: the ColdStart metric is printed on a handler's first invocation only.
    quiet = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    verbose = subprocess.run(
        [*command, "--verbose"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert quiet.returncode == 0 and json.loads(quiet.stdout) == {"batchItemFailures": []}
    assert '"_aws"' not in quiet.stderr and "UserWarning" not in quiet.stderr
    assert verbose.returncode == 0
    assert '{"_aws":' in verbose.stderr and "UserWarning: No application metrics" in verbose.stderr


# --- status that reads at any width ---------------------------------------------------------------------------


def _rows() -> list[Row]:
    long_key = "incoming/" + "/".join(f"folder-{n}" for n in range(12)) + "/the-distinct-file-name.json"
    error = ErrorDetail("$.internalNotes", "is not a field of this schema; " * 6)
    routed = {"destination": {"kind": "qrvey", "url": "https://qrvey.example.org/devapi/v4"}}
    return [
        Row(ledger_entry(long_key, Status.INVALID, errors=(error,), errors_total=3, schema="HDRUK 3.0.0"), routed),
        Row(ledger_entry("incoming/unis/a-long-name-for-a-unis-node.json", Status.UNCHANGED, record_id=123456), {}),
        Row(ledger_entry("incoming/qrvey/q.json", Status.PENDING, record_id="ds-7f3a9c", record_version=2), routed),
        Row(ledger_entry("incoming/aep/batch.json", Status.REJECTED, reason="Adobe refused the batch: " * 5), {}),
    ]


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_status_shows_every_status_at_80_100_and_120_columns_with_errors_under_their_rows(columns: int) -> None:
    from rich.console import Console

    from hdr_ingest_cli.status import outcome_table

    rows = _rows()
    terminal = Console(width=columns, file=io.StringIO(), force_terminal=True, color_system=None)
    terminal.print(outcome_table(rows, columns))
    lines = terminal.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert max(len(line) for line in lines) <= columns
    row_lines = [line for line in lines[1:] if not line.startswith("    ")]
    assert [line.split()[1] for line in row_lines] == ["INVALID", "UNCHANGED", "PENDING", "REJECTED"]
    assert row_lines[0].startswith("incoming/") and "file-name.json  " in row_lines[0]  # its end kept
    assert "…" in row_lines[0]  # the long key shortened in its middle
    notes = "".join(line.strip() for line in lines if line.startswith("    "))
    assert notes.startswith("↳ $.internalNotes: is not a field")
    assert "(+2 more)" in notes and "↳ Adobe refused the batch" in notes
    # about one screen line per error: a row, then its error in as few lines as the width allows
    assert len(lines) <= 1 + len(rows) + 2 * (1 + (len(rows[0].entry.errors[0].message) + 40) // columns)


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_status_fits_qrvey_uuids_and_schemas_without_cutting_a_status(columns: int) -> None:
    from rich.console import Console

    from hdr_ingest_cli.status import outcome_table

    routed = {"destination": {"kind": "qrvey", "url": "https://qrvey.example.org/devapi/v4"}}
    uuid = "a64179f1-e1df-5a78-9ebf-e5b96b2170ad"
    rows = [
        Row(ledger_entry("incoming/hdruk-4.0.0-asthma-cohort.json", Status.CREATED, record_id=1, record_version=1), {}),
        Row(
            ledger_entry(
                "incoming/qrvey/air-quality-dataset.json",
                Status.CREATED,
                record_id=uuid,
                schema="Qrvey dataset definition 1",
            ),
            routed,
        ),
    ]
    terminal = Console(width=columns, file=io.StringIO(), force_terminal=True, color_system=None)
    terminal.print(outcome_table(rows, columns))
    lines = terminal.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert max(len(line) for line in lines) <= columns
    assert [line.split()[1] for line in lines[1:3]] == ["CREATED", "CREATED"]  # every status whole
    source = lines[2].split()[0]
    assert source.startswith("incomin") and source.endswith("set.json")  # its start and end, at least 16 columns
    assert uuid[:5] in lines[2] and uuid[-5:] in lines[2]  # the id shortened in its middle where it must be
    assert (uuid in lines[2]) is (columns >= 120)


def test_status_wide_puts_the_first_error_in_a_column(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack
) -> None:
    error = ErrorDetail("$.x", "is wrong")
    DynamoDbLedger(fake_stack.table).record(
        _entry(fake_stack, "incoming/bad.json", Status.INVALID, errors=(error,), errors_total=1)
    )
    code, out, _ = run(capsys, "status", "--wide")
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("incoming/bad.json")]
    assert "INVALID" in line and "$.x: is wrong" in line


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_make_run_results_show_every_status_at_80_100_and_120_columns(
    columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    import local_stack.__main__ as run_stack

    results = [run_stack.Result(row.entry.key, row.entry, frozenset({row.entry.status.value})) for row in _rows()] + [
        run_stack.Result("incoming/qrvey/never-finished.json", None, frozenset({"CREATED"}))
    ]
    terminal = Console(width=columns, file=io.StringIO(), force_terminal=True, color_system=None)
    monkeypatch.setattr(run_stack, "console", lambda: terminal)
    run_stack.print_results(results)
    lines = terminal.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert max(len(line) for line in lines) <= columns
    row_lines = [line for line in lines[1:] if not line.startswith("    ")]
    assert [line.split()[1] for line in row_lines] == ["INVALID", "UNCHANGED", "PENDING", "REJECTED", "TIMEOUT"]
    notes = [line.strip() for line in lines if line.startswith("    ↳")]
    assert notes[0].startswith("↳ $.internalNotes: is not a field") and notes[-1] == "↳ no final outcome in time"


# --- one stack at a time ----------------------------------------------------------------------------------------


def test_a_second_stack_refuses_to_start_and_leaves_the_first_one_s_state_and_data_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import local_stack.__main__ as run_stack
    from local_stack.state import STATE_FILE_NAME, write_state

    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # the first stack's process
    try:
        state = tmp_path / STATE_FILE_NAME
        write_state(state, {"pid": first.pid, "started_at": "2026-01-01T00:00:00+0000", "aws": {"bucket": "b"}})
        data = tmp_path / "gateway.sqlite"
        data.write_bytes(b"the first stack's datasets")
        before = state.read_text(encoding="utf-8")
        code = run_stack.main(["--state-dir", str(tmp_path), "--once", "--no-samples"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"already running (pid {first.pid}" in err and f"kill {first.pid}" in err
        assert state.read_text(encoding="utf-8") == before and data.read_bytes() == b"the first stack's datasets"
    finally:
        first.kill()
        first.wait(timeout=60)


# --- rebuild-ledger by each route's own destination; a prefix no route watches ---------------------------------


def test_rebuild_ledger_asks_each_route_s_own_catalogue_and_suggests_the_route_s_prefix(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack
) -> None:
    from hdr_ingest.core.ports import Call
    from hdr_ingest.core.routing import RouteSpec
    from hdr_ingest.core.source_object import SourceObject
    from hdr_ingest.destinations import Common, kind
    from local_stack.state import write_state
    from local_stack.unis_emulator.server import UnisEmulator

    with UnisEmulator() as unis:
        routes = [
            {"prefix": "incoming/", "kind": "hdruk", "url": "http://127.0.0.1:9/api/v1", "secret": "gw"},
            {"prefix": "incoming/unis/", "kind": "unis", "url": unis.base_url, "secret": None},
        ]
        env = {"DESTINATIONS": json.dumps(routes), "LEDGER_TABLE": fake_stack.bucket, "DLQ_URL": "q"}
        env["ALLOW_LOCAL_DESTINATIONS"] = "true"
        state = json.loads(fake_stack.path.read_text(encoding="utf-8"))
        state.update(function_env=env, prefixes=["incoming/", "incoming/unis/"])
        write_state(fake_stack.path, state)
        key = "incoming/unis/node.json"
        text = (ROOT / "local_stack" / "samples" / "unis" / "valid-cpu-utilisation.json").read_text(encoding="utf-8")
        fake_stack.s3.put_object(Bucket=fake_stack.bucket, Key=key, Body=text.encode())
        unis_route = RouteSpec("incoming/unis/", "unis", unis.base_url, None, {})
        destination = kind("unis").build(unis_route, Common())  # type: ignore[union-attr]
        document = json.loads(text)
        record_key = SourceObject(fake_stack.bucket, key).record_key
        published = destination.create(record_key, document, destination.judge(document, text), Call(None, 30, 30))
        assert published.record_id is not None

        code, out, err = run(capsys, "rebuild-ledger", "--prefix", "unis/")
        assert code == 2 and "Use --prefix incoming/unis/." in err

        code, out, err = run(capsys, "rebuild-ledger", "--prefix", "incoming/unis/", "--json")
    assert code == 0, err
    [line] = json.loads(out)
    assert line["status"] == "CREATED" and line["dataset_id"] == published.record_id
    item = fake_stack.table.get_item(Key={"source": f"s3://{fake_stack.bucket}/{key}"})["Item"]
    assert item["destination"]["kind"] == "unis"


def test_redrive_on_the_local_stack_moves_the_messages_without_asking_for_a_move_task(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack
) -> None:
    import boto3

    from local_stack.state import write_state

    sqs = boto3.client("sqs", region_name="eu-west-2", endpoint_url=fake_stack.endpoint)
    queue = sqs.create_queue(QueueName=f"{fake_stack.bucket}-ingest")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"{fake_stack.bucket}-dlq")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"n": n}))
    state = json.loads(fake_stack.path.read_text(encoding="utf-8"))
    state["aws"].update(dlq_url=dlq, queue_url=queue)
    write_state(fake_stack.path, state)

    code, out, err = run(capsys, "redrive")
    assert code == 0
    assert out == f"moved 3 message(s) from {dlq} to {queue}\n"
    assert "StartMessageMoveTask" not in out + err  # moto lacks it: not asked, so no 500 in the stack's log
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert sorted(json.loads(m["Body"])["n"] for m in got) == [0, 1, 2]


# --- make run ARGS: ArchiveOnDelete, a route's options, TARGET_SCHEMA -----------------------------------------


def test_make_run_options_reach_the_function_archive_on_delete_route_options_and_target_schema() -> None:
    import local_stack.__main__ as run_stack
    from hdr_ingest.entry.settings import Settings
    from local_stack.stack import LocalStack, StackOptions

    parser = run_stack.build_parser()
    strict = 'hdruk={"validationMode": "strict"}'
    args = parser.parse_args(["--archive-on-delete", "--route-options", strict, "--target-schema", "HDRUK 3.0.0"])
    given = run_stack.parse_route_options(args.route_options, args.target_schema)
    assert given == {"hdruk": {"validationMode": "strict", "targetSchema": "HDRUK 3.0.0"}}
    with pytest.raises(ValueError, match="expected KIND=JSON-object"):
        run_stack.parse_route_options(["qrvey"], None)
    with pytest.raises(ValueError, match="not JSON"):
        run_stack.parse_route_options(["qrvey={bad"], None)

    options = StackOptions(route_options=given, extra_env={"ARCHIVE_ON_DELETE": "true"})
    with LocalStack(options) as stack:
        settings = Settings.from_env(stack.function_env)
    assert settings.archive_on_delete is True
    [route] = settings.routes
    assert route.kind == "hdruk" and route.options["targetSchema"] == "HDRUK 3.0.0"
    assert route.options["validationMode"] == "strict"


# --- validate states the schema version the function will send ----------------------------------------------


def test_validate_with_schema_states_the_version_the_function_sends_by_first_match(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.conftest import EXAMPLES

    # HDR UK 3.0.0's example without the fields 4.0.0 lacks (and an empty datasetType, valid in both): valid as
    # 3.0.0 and as 4.0.0, so the function, matching 3.0.0 first, sends it as 3.0.0 whatever --schema checked.
    doc = json.loads((EXAMPLES / "schemata" / "HDRUK" / "3.0.0" / "docs.example.json").read_text(encoding="utf-8"))
    doc["summary"].pop("alternateIdentifiers", None)
    doc["provenance"]["origin"].pop("datasetSubType", None)
    doc["provenance"]["origin"]["datasetType"] = []
    path = tmp_path / "both.json"
    path.write_text(json.dumps(doc), encoding="utf-8")

    code, out, _ = run(capsys, "validate", "--schema", "HDRUK 4.0.0", str(path))
    assert code == 0
    assert "The function sends it as HDRUK 3.0.0 (the first schema it matches), not HDRUK 4.0.0" in out
    assert "input_version=4.0.0" not in out
    code, out, _ = run(capsys, "validate", "--schema", "HDRUK 4.0.0", "--json", str(path))
    assert json.loads(out)["files"][0]["sent_as"] == "HDRUK 3.0.0"
    code, out, _ = run(capsys, "validate", "--schema", "HDRUK 3.0.0", str(path))
    assert "The function sends it as" not in out and "input_version=3.0.0" in out


# --- validate: the kind from the route, what it cannot check offline, each element ---------------------------

SAMPLES = ROOT / "local_stack" / "samples"


def test_validate_takes_the_kind_from_the_route_a_prefix_falls_under(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack
) -> None:
    from local_stack.state import write_state

    unis_file = str(SAMPLES / "unis" / "valid-two-port-metrics.json")
    # by default HDR UK's rules, with a hint about --kind when the file fails them
    code, _, err = run(capsys, "validate", unis_file)
    assert code == 1 and "--kind unis|qrvey|aep" in err
    # no route for the prefix: says which the running stack has, and which kinds exist
    code, _, err = run(capsys, "validate", "--prefix", "elsewhere/", unis_file)
    assert code == 2 and "the running stack routes incoming/" in err and "--kind aep|hdruk|qrvey|unis" in err

    routes = [
        {"prefix": "incoming/", "kind": "hdruk", "url": "http://127.0.0.1:9/api/v1", "secret": "gw"},
        {"prefix": "incoming/unis/", "kind": "unis", "url": "http://127.0.0.1:8", "secret": None},
    ]
    state = json.loads(fake_stack.path.read_text(encoding="utf-8"))
    state["function_env"] = {"DESTINATIONS": json.dumps(routes)}
    write_state(fake_stack.path, state)
    code, out, err = run(capsys, "validate", "--prefix", "incoming/unis/", unis_file)
    assert code == 0 and "judged by the rules of the unis route on incoming/unis/" in err, (out, err)
    assert "2 records: 2 valid, 0 invalid" in out  # and each element reported
    assert "[0] ok: valid UNIS" in out and "[1] ok: valid UNIS" in out


def test_validate_of_aep_says_the_xdm_schema_was_not_checked_offline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--kind", "aep", str(SAMPLES / "aep" / "valid-records.json"))
    assert code == 0
    assert out.splitlines()[-1].startswith("not checked offline: the dataset's XDM schema")
    code, out, _ = run(capsys, "validate", "--kind", "aep", "--json", str(SAMPLES / "aep" / "valid-records.json"))
    assert "XDM schema" in json.loads(out)["not_checked"][0]
    code, out, _ = run(capsys, "validate", "--kind", "unis", str(SAMPLES / "unis" / "invalid-several-errors.json"))
    assert code == 1 and "not checked offline" not in out
