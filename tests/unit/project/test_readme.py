"""README.md stays true to the code: every name a user types or reads (a setting, a template parameter, a CLI
command or flag, a `make run` flag, a Makefile target, a route option, a metric, a ledger attribute) is read from
the code here and must be named in the README section that documents it. A new name without its line in the README
fails here, not in a user's hands."""

from __future__ import annotations

import argparse
import ast
import importlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str, text: str = README) -> str:
    """The text of the README section headed ``title`` (any level), up to the next heading of that level or above."""
    match = re.search(rf"^(#+) {re.escape(title)}\s*$", text, re.MULTILINE)
    assert match is not None, f"README has no section {title!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def named(name: str, text: str) -> bool:
    """``name`` appears in ``text`` as code: in backticks, alone or in a longer code span (a command line); code
    blocks do not count (an example is not the text that explains it)."""
    text = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.MULTILINE | re.DOTALL)
    spans = re.findall(r"`([^`\n]+(?:\n[^`\n]+)*)`", text)  # a span never crosses a blank line
    return any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", span) for span in spans)


class Recording(Mapping[str, str]):
    """An empty environment that remembers every name asked of it."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        self.asked.add(name)
        return default

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def settings_read() -> set[str]:
    from hdr_ingest.entry.settings import ConfigError, Settings

    env = Recording()
    with pytest.raises(ConfigError):  # nothing set: the required variables are missing
        Settings.from_env(env)
    return env.asked


def test_recording_sees_the_required_settings() -> None:
    assert {"LEDGER_TABLE", "DLQ_URL", "DESTINATIONS", "GATEWAY_SECRET_ID"} <= settings_read()


def test_every_variable_the_settings_read_is_in_configuration() -> None:
    configuration = section("Configuration")
    missing = sorted(name for name in settings_read() if not named(name, configuration))
    assert not missing, f"README 'Configuration' does not name {missing}"


class _CloudFormation(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) read as plain values."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_CloudFormation.add_multi_constructor("!", _tagged)


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_CloudFormation)
    return loaded


def test_every_template_parameter_is_in_configuration() -> None:
    configuration = section("Configuration")
    parameters = template()["Parameters"]
    assert "GatewaySecretId" in parameters
    missing = sorted(name for name in parameters if not named(name, configuration))
    assert not missing, f"README 'Configuration' does not name the template parameters {missing}"


def test_every_variable_the_template_sets_is_in_configuration() -> None:
    configuration = section("Configuration")
    variables = template()["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert "LEDGER_TABLE" in variables
    missing = sorted(name for name in variables if not named(name, configuration))
    assert not missing, f"README 'Configuration' does not name {missing}, which template.yaml sets"


def test_every_alarm_is_in_operations() -> None:
    alarms = [
        str(resource["Properties"]["AlarmName"]).replace("${AWS::StackName}", "<stack>")
        for resource in template()["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert "<stack>-dead-letters" in alarms
    missing = [name for name in alarms if not named(name, section("Operations"))]
    assert not missing, f"README 'Operations' does not name the alarms {missing}"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def long_flags(parser: argparse.ArgumentParser) -> list[str]:
    """The flags ``--help`` shows (hidden ones, ``help=SUPPRESS``, are not a user's to know)."""
    return [
        flag
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    ]


CLI_SECTION = "The local stack and `hdr-ingest`"


def test_every_cli_command_and_flag_is_in_readme() -> None:
    from hdr_ingest_cli.app import build_parser

    text = section(CLI_SECTION)
    commands = subcommands(build_parser())
    assert {"validate", "drop", "status", "verify"} <= set(commands)
    missing = [f"hdr-ingest {name}" for name in commands if not named(f"hdr-ingest {name}", text)]
    for name, parser in commands.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `hdr-ingest {name}")), "")
        prose = [p for p in text.split("\n\n") if not p.startswith("|")]  # the table's other rows are not its own
        nearby = row + "".join(p for p in prose if f"hdr-ingest {name}" in p or f"`{name}`" in p)
        missing += [f"hdr-ingest {name} {flag}" for flag in long_flags(parser) if not named(flag, nearby)]
    assert not missing, f"README {CLI_SECTION!r} does not name {missing}"


def test_every_make_run_flag_is_in_readme() -> None:
    from local_stack.__main__ import build_parser

    text = section(CLI_SECTION)
    flags = long_flags(build_parser())
    assert "--once" in flags
    missing = [flag for flag in flags if not named(flag, text)]
    assert not missing, f"README {CLI_SECTION!r} does not name the `make run` flags {missing}"


def test_every_make_target_is_in_readme() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = {t for line in makefile.splitlines() if line.startswith(".PHONY:") for t in line.split()[1:]}
    assert {"run", "test"} <= targets
    missing = sorted(t for t in targets if not named(f"make {t}", README))
    assert not missing, f"README does not name `make {missing}`"


def kind_paragraph(kind: str) -> str:
    """The README bullet of one kind under "Destinations", down to the next kind's."""
    text = section("Destinations")
    start = text.find(f"- **`{kind}`**")
    assert start >= 0, f"README 'Destinations' has no bullet for {kind!r}"
    end = re.search(r"^- \*\*`", text[start + 1 :], re.MULTILINE)
    return text[start : start + 1 + end.start()] if end else text[start:]


def test_every_route_option_is_documented_under_its_kind() -> None:
    from hdr_ingest import destinations
    from hdr_ingest.core.routing import VERIFY_OPTION

    missing: list[str] = []
    for kind in destinations.kinds():
        options = importlib.import_module(f"hdr_ingest.destinations.{kind}.route").OPTIONS
        assert options, kind
        missing += [f"{kind}.{name}" for name in options if not named(name, kind_paragraph(kind))]
    assert named(VERIFY_OPTION, section("Destinations"))
    assert not missing, f"README 'Destinations' does not document the route options {missing}"


def metric_names() -> set[str]:
    """Every metric the function emits: one per outcome status, and each ``add_metric(name=...)`` of the entry
    layer, as a string or a constant of ``observe`` (a variable is a caller's name, counted where it is called)."""
    from hdr_ingest.core.outcome import Status
    from hdr_ingest.entry import observe

    names = {status.value.title() for status in Status}
    for path in (ROOT / "layers/shared/hdr_ingest/entry").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "add_metric":
                values = [k.value for k in node.keywords if k.arg == "name"]
                constants = [getattr(observe, v.id, None) if isinstance(v, ast.Name) else None for v in values]
                names |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
                names |= {c for c in constants if isinstance(c, str)}
    return names


def test_every_metric_is_in_operations() -> None:
    names = metric_names()
    assert {"Created", "Pending", "GatewayError", "Drift", "UnprocessableMessage"} <= names
    missing = sorted(name for name in names if not named(name, section("Operations")))
    assert not missing, f"README 'Operations' does not name the metrics {missing}"


def test_every_ledger_attribute_is_in_the_ledger_table() -> None:
    from hdr_ingest.adapters.aws.dynamodb_ledger import to_item
    from hdr_ingest.core.ledger import LedgerEntry
    from hdr_ingest.core.outcome import ErrorDetail, Status
    from hdr_ingest.core.verification import Difference, Verified

    full = LedgerEntry(
        "s3://b/k.json",
        Status.UPDATED,
        "Updated.",
        "b",
        "k.json",
        "hgi-1",
        "2026-01-01T00:00:00.000Z",
        attempts=2,
        record_id=7,
        record_version=3,
        schema="HDRUK 4.0.0",
        errors=(ErrorDetail("$", "bad"),),
        errors_total=1,
        warnings=("w",),
        object_sha256="a",
        etag="e",
        version_id="v",
        sequencer="s",
        http_status=200,
        document_sha256="d",
        members=("m",),
        members_total=0,
        destination={"kind": "hdruk", "url": "https://g"},
        element_id="x",
        verified=Verified.DIFFERS,
        verified_at="2026-01-01T00:00:00.000Z",
        differences=(Difference("$.a", "1", "2"),),
    )
    unset = [f.name for f in fields(LedgerEntry) if getattr(full, f.name) == f.default and f.name != "members_total"]
    assert not unset, f"set {unset} above, so their attributes are checked too"
    many = LedgerEntry("s3://b/c.json", Status.CREATED, "r", "b", "c.json", "hgi-2", "t", members_total=3000)
    attributes = set(to_item(full)) | set(to_item(many))
    table = section("Ledger").split("| status | meaning |")[0]
    missing = sorted(name for name in attributes if not named(name, table))
    assert not missing, f"README 'Ledger' does not name the ledger attributes {missing}"


def test_cli_help_summary_names_every_command() -> None:
    """`hdr-ingest --help` opens with a line per command (the package's docstring): none is left out."""
    import hdr_ingest_cli
    from hdr_ingest_cli.app import build_parser

    summary = hdr_ingest_cli.__doc__ or ""
    missing = [name for name in subcommands(build_parser()) if f"    hdr-ingest {name} " not in summary]
    assert not missing, f"hdr_ingest_cli's docstring (`hdr-ingest --help`) has no line for {missing}"
