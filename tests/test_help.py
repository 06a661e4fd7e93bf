"""`--help` teaches: every command has Examples whose kpstask commands the real parser
accepts, the options sit under headings made from the option groups, usage lines read
`SHELL` and `TASK_ID...`, and `kpstask --help` reads well at 80 columns."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import typer

from kpstask.cli import COMMANDS, app
from kpstask.cli.examples import EXAMPLES
from kpstask.cli.lists import LISTING
from kpstask.cli.options import OUTPUT, PACE, WAITING, flag_of
from kpstask.settings import SETTINGS
from tests.conftest import run

ROOT: Any = typer.main.get_command(app)
# Every command path whose --help is asked for: kpstask itself, its commands, `config show`.
PATHS = ["", *(name for name in COMMANDS if name != "config"), "config show"]
HEADING = re.compile(r"^([A-Z][\w ]*):$")
OPTION_ROW = re.compile(r"^  (?:(-\w), )?(--[\w-]+)")
INVOCATION = re.compile(r"(?:^|(?<=[\s(]))kpstask(?=\s|$)(?P<args>[^|;&<>)#]*)")


def help_of(path: str, columns: int = 80) -> str:
    result = run(*path.split(), "--help", env={"COLUMNS": str(columns)}, with_defaults=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def sections(text: str) -> dict[str, list[str]]:
    """Heading -> the lines under it, in the order shown."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            current = found.setdefault(match.group(1), [])
        elif line.strip():
            current.append(line)
    return found


def flags_under(text: str) -> dict[str, str]:
    """--flag (and -f) -> the heading it is listed under."""
    return {
        flag: heading
        for heading, lines in sections(text).items()
        for match in map(OPTION_ROW.match, lines)
        if match
        for flag in match.groups()
        if flag
    }


def command_of(argv: list[str]) -> tuple[Any, list[str], str]:
    """The click command an argv names, the rest of the argv, and its path."""
    command, rest, path = ROOT, list(argv), []
    while rest and rest[0] in getattr(command, "commands", {}):
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    return command, rest, " ".join(path)


def invocations(path: str) -> list[list[str]]:
    """The argv of every kpstask command in a command's examples."""
    found: list[list[str]] = []
    for line in EXAMPLES[path]:
        if not line.startswith("#"):
            found.extend(shlex.split(match.group("args")) for match in INVOCATION.finditer(line))
    return found


# -- Examples ---------------------------------------------------------------------------


def test_the_table_has_every_command_and_no_other() -> None:
    assert set(EXAMPLES) == set(PATHS)


@pytest.mark.parametrize("path", PATHS)
def test_every_help_has_examples(path: str) -> None:
    shown = sections(help_of(path))
    assert shown["Examples"][: len(EXAMPLES[path])] == [f"  {line}" for line in EXAMPLES[path]]


@pytest.mark.parametrize("path", PATHS)
def test_every_example_parses(path: str) -> None:
    argvs = invocations(path)
    assert argvs, "no kpstask command in the examples"
    if path:
        assert any(command_of(argv)[2] == path for argv in argvs), f"no example runs `kpstask {path}`"
    for argv in argvs:
        command, rest, name = command_of(argv)
        assert name, f"not a command: {argv}"
        rest = [arg for arg in rest if arg != "--help"]
        # The real parser: unknown options, bad choices, out-of-range numbers and missing
        # arguments are errors here (only the command's body is not run).
        command.make_context(name.split()[-1], rest)


@pytest.mark.parametrize("path", PATHS)
def test_examples_fit_an_80_column_terminal(path: str) -> None:
    examples = sections(help_of(path))["Examples"][: len(EXAMPLES[path])]
    assert max(len(line) for line in examples) <= 80


def test_config_show_keeps_its_settings_table() -> None:
    text = help_of("config show")
    assert text.index("Examples:") < text.index("Settings: each from its flag")


def test_examples_come_before_the_exit_codes() -> None:
    for path in ("", "get", "wait", "running", "failed"):
        text = help_of(path)
        assert text.index("Examples:") < text.index("Exit codes:"), path


# -- headings ---------------------------------------------------------------------------

TASK_HEADINGS = ["Arguments", "Connection", "Credentials", "Output", "Waiting", "Requests", "Other", "Examples"]


@pytest.mark.parametrize("path", ["get", "wait"])
def test_get_and_wait_options_are_under_headings_in_order(path: str) -> None:
    text = help_of(path)
    headings = [heading for heading in sections(text) if heading not in ("Exit codes",)]
    assert headings == TASK_HEADINGS
    connection = sections(text)["Connection"]
    assert connection[0].startswith("  -r, --region")
    assert any(line.startswith("  -p, --project-id") for line in connection)
    assert sections(text)["Credentials"][0].startswith("  --token TOKEN")
    rows = [line for line in text.splitlines() if OPTION_ROW.match(line)]
    first = " ".join(rows[:6])
    assert "--region" in first and "--project-id" in first and "--token " in first


GROUPS_OF = {"get": (OUTPUT, WAITING, PACE), "wait": (OUTPUT, WAITING, PACE), "running": (OUTPUT, LISTING)}


@pytest.mark.parametrize(("path", "groups"), GROUPS_OF.items())
def test_each_group_is_listed_under_its_heading(path: str, groups: tuple[Any, ...]) -> None:
    where = flags_under(help_of(path))
    for group in groups:
        for param in group.params:
            assert where[flag_of(param)] == group.heading, flag_of(param)


def test_the_settings_table_splits_connection_from_credentials() -> None:
    where = flags_under(help_of("get"))
    assert {where[flag] for flag in ("--region", "--endpoint", "--project-id", "--profile", "--allow-http")} == {
        "Connection"
    }
    credential_flags = [s.file_flag or s.flag for s in SETTINGS if s.secret] + ["--iam-endpoint", "--no-cache"]
    assert {where[flag] for flag in credential_flags if flag} == {"Credentials"}
    assert (where["--request-timeout"], where["--retries"], where["--debug"], where["--help"]) == (
        "Requests",
        "Requests",
        "Other",
        "Other",
    )


@pytest.mark.parametrize("path", ["running", "failed", "token", "config show"])
def test_every_command_with_api_options_has_the_headings(path: str) -> None:
    shown = list(sections(help_of(path)))
    for heading in ("Connection", "Credentials", "Other"):
        assert heading in shown, heading
    assert shown.index("Connection") < shown.index("Credentials") < shown.index("Other")
    assert shown[-2:] != ["Other", "Options"], "a command's own options come first"


@pytest.mark.parametrize(("path", "own"), [("failed", "--clear"), ("token", "--show"), ("config show", "--output")])
def test_a_commands_own_options_come_first(path: str, own: str) -> None:
    text = help_of(path)
    assert flags_under(text)[own] == "Options"
    assert next(h for h in sections(text) if h != "Arguments") == "Options"


@pytest.mark.parametrize("path", ["simulate", "demo", "completion"])
def test_a_command_with_only_its_own_options_has_one_options_section(path: str) -> None:
    shown = sections(help_of(path))
    assert [h for h in shown if h not in ("Arguments", "Examples")] == ["Options"]
    assert any("--help" in line for line in shown["Options"])


def test_parsing_is_unchanged_by_the_layout() -> None:
    # Options were reordered for the help: arguments still bind, every option still parses.
    result = run("get", "--wait", "bad id!", "--timeout", "1m")
    assert result.exit_code == 2
    assert "invalid task id" in result.stderr


# -- usage lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "usage", "argument"),
    [
        ("completion", "Usage: kpstask completion [OPTIONS] SHELL", "  SHELL "),
        ("get", "Usage: kpstask get [OPTIONS] TASK_ID...", "  TASK_ID... "),
        ("wait", "Usage: kpstask wait [OPTIONS] [TASK_ID...]", "  [TASK_ID...] "),
        ("failed", "Usage: kpstask failed [OPTIONS] [TASK_ID...]", "  [TASK_ID...] "),
    ],
)
def test_usage_lines_read_plain_metavars(path: str, usage: str, argument: str) -> None:
    text = help_of(path)
    assert text.splitlines()[0] == usage
    assert sections(text)["Arguments"][0].startswith(argument)
    assert "{" not in text.split("Examples:")[0]
    assert "<bash|" not in text


def test_usage_errors_name_the_metavar() -> None:
    result = run("completion", "tcsh")
    assert result.exit_code == 2
    assert "'SHELL'" in result.stderr and "tcsh" in result.stderr
    assert run("completion", "BASH").exit_code == 0  # still case-insensitive


# -- kpstask --help at 80 columns -------------------------------------------------------


def test_top_level_help_reads_well_at_80_columns() -> None:
    text = help_of("", columns=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    listed = [line.split()[0] for line in sections(text)["Commands"] if not line.startswith("   ")]
    assert listed == list(COMMANDS)
    assert "..." not in "\n".join(sections(text)["Commands"]), "a command's summary was cut"


@pytest.mark.parametrize("path", PATHS)
def test_option_rows_fit_80_columns(path: str) -> None:
    text = help_of(path, columns=80).split("Examples:")[0]
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.startup
@pytest.mark.parametrize("path", PATHS)
def test_no_help_loads_anything_heavy(path: str) -> None:
    # The Examples table and the headings are plain text: help stays free of rich and requests.
    from tests.test_completion import RUN_MAIN, loaded_modules

    assert loaded_modules(RUN_MAIN, [*path.split(), "--help"]) == "LOADED []"
