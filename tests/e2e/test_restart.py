"""A second start of the local stack (a second `make run`) agrees with its fresh ledger: the Gateway emulator's
datasets from the first run, kept on disk, are cleared, so unchanged samples are not published again."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdr_ingest.core.outcome import Status
from local_stack.poller import load_handler
from local_stack.stack import LocalStack, StackOptions
from tests.conftest import EXAMPLES, PACK_DIR

pytestmark = pytest.mark.e2e

KEY = "incoming/restart/asthma.json"
DOCUMENT = (EXAMPLES / "schemata" / "HDRUK" / "4.0.0" / "docs.example.json").read_bytes()


def run_once(db: Path) -> tuple[LocalStack, list[str], list[dict[str, object]]]:
    """Start a stack on the emulator database ``db``, drop DOCUMENT and wait for its outcome; the stack (stopped),
    the Gateway requests' methods and the emulator's datasets."""
    options = StackOptions(stack_name="hgi-restart", wait_time_s=1, schema_pack_dir=PACK_DIR, emulator_db=db)
    with LocalStack(options) as stack:
        assert stack.emulator is not None
        stack.put(KEY, DOCUMENT)
        stack.entry = stack.wait_for(stack.source(KEY), timeout=60)  # type: ignore[attr-defined]
        return stack, [r.method for r in stack.emulator.requests()], stack.emulator.datasets()


def test_second_run_starts_the_emulator_as_empty_as_the_ledger(tmp_path: Path) -> None:
    load_handler()  # import the handler under the test suite's environment (see test_local_stack.py)
    db = tmp_path / "gateway.sqlite"
    first, _, datasets = run_once(db)
    assert first.cleared_datasets == 0 and first.entry.status is Status.CREATED  # type: ignore[attr-defined]
    assert len(datasets) == 1 and db.is_file()

    second, methods, datasets = run_once(db)
    assert second.cleared_datasets == 1
    entry = second.entry  # type: ignore[attr-defined]
    assert entry.status is Status.CREATED and entry.record_version == 1, entry
    assert [d["version"] for d in datasets] == [1]
    assert "PUT" not in methods  # no new version of a dataset from the first run
