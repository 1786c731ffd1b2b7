"""What `hdr-ingest validate` pays for at start-up (issue 25, item 4): no module that only other commands need, and
no regular expression compiled at import that the common path does not use.

Nothing here times anything: what is imported and which checks are equal are asserted, not how long they take.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest

from hdr_ingest.destinations.hdruk.judge.formats import FORMATS
from hdr_ingest.destinations.hdruk.judge.preprocess import _needs_encoding, php_htmlentities
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

# The character class htmlentities' check was before (Python's re takes milliseconds to compile it).
_CLASS = re.compile("[&\"'<>\u00a0-\U0010ffff]")


def test_the_cli_does_not_import_the_stack_state_before_a_command_needs_it() -> None:
    modules = ("local_stack.state", "hdr_ingest.destinations.hdruk.judge.formats")
    code = f"import sys, hdr_ingest_cli.app; print(sorted(m for m in {modules!r} if m in sys.modules))"
    path = f"{ROOT / 'layers' / 'shared'}:{ROOT / 'functions' / 'ingest'}:{ROOT}"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": path}, timeout=120
    )
    # The judge is imported (validate uses it), the stack's state is not (only commands that talk to it use it).
    assert found.stdout.strip() == "['hdr_ingest.destinations.hdruk.judge.formats']"


def test_the_encoding_check_is_the_character_class_it_replaces() -> None:
    rng = random.Random(25)
    samples = ["", "plain", "a&b", "it's", "<b>", "\x85\x9f", "\xa0", "é", "EMIS Web®", "\U0001f600", "\ud800"]
    for _ in range(5000):
        samples.append("".join(chr(rng.choice((rng.randint(0, 0xFF), rng.randint(0, 0x10FFFF)))) for _ in range(4)))
    for text in samples:
        assert _needs_encoding(text) is (_CLASS.search(text) is not None), repr(text)
    assert php_htmlentities(" Tom & Jerry ® ") == "Tom &amp; Jerry &reg;"


def test_formats_compiled_on_first_use_still_judge_as_ajv_formats_does() -> None:
    assert FORMATS["uri"]("https://example.org/a?b=c#d") and not FORMATS["uri"]("not a uri")
    assert FORMATS["email"]("a.b@example.org") and not FORMATS["email"]("a b@example.org")
