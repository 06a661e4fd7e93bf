"""The README and `docs/` stay true: the CI command, every option, variable and exit code, and
`simulate --tasks`. The links between the pages are checked in tests/test_docs.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from kpstask.cli import app
from kpstask.errors import ExitCode
from kpstask.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md"))}
EVERYWHERE = "\n".join([README, *DOCS.values()])
SETTINGS_PAGE = "settings-and-credentials.md"
# Where each command is documented: its own options there, the shared ones (the settings table's,
# output, requests, --debug) on the settings page; `get` takes the wait options too (`--wait`).
HOME = {
    "get": ("commands.md", "waiting.md"),
    "wait": ("waiting.md",),
    "running": ("commands.md",),
    "failed": ("commands.md",),
    "config show": (SETTINGS_PAGE,),
    "token": (SETTINGS_PAGE,),
    "simulate": ("simulator.md",),
    "demo": ("simulator.md",),
    "completion": ("commands.md",),
}
README_LINES = 300  # a front door (issue 21): what it is, install, uses, exit codes, where to read more


def commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every command, `config show` by its whole name."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


ALL = dict(commands(typer.main.get_command(app)))


def documented(option: str, text: str) -> bool:
    return f"`{option}" in text or f", {option}" in text


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line.split(" || ")[0] for line in ci.splitlines() if "pytest" in line and "venv" in line)
    assert f"\n{command}\n" in README


def test_every_command_has_a_home() -> None:
    assert set(ALL) == set(HOME)


@pytest.mark.parametrize("name", sorted(HOME))
def test_every_command_is_in_the_readme_and_on_its_page(name: str) -> None:
    assert f"`kpstask {name}" in README, name
    assert f"kpstask {name}" in DOCS[HOME[name][0]], name


@pytest.mark.parametrize("name", sorted(HOME))
def test_every_option_is_documented_where_its_command_is(name: str) -> None:
    pages = "\n".join(DOCS[page] for page in (*HOME[name], SETTINGS_PAGE))
    for param in ALL[name].params:
        for opt in param.opts:
            if opt.startswith("-") and opt not in ("--help", "-h"):
                assert documented(opt, pages), f"{name} {opt}: not in {HOME[name]} or {SETTINGS_PAGE}"


def test_every_environment_variable_is_documented() -> None:
    names = [name for setting in SETTINGS for name in setting.env]
    names += ["NO_COLOR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "GITHUB_ACTIONS", "FORCE_COLOR", "GITHUB_STEP_SUMMARY"]
    for name in names:
        assert re.search(f"`{name}[`=]", EVERYWHERE), name


def test_exit_code_table_matches_the_contract() -> None:
    section = README.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}


def test_the_readme_is_a_front_door() -> None:
    assert README.count("\n") <= README_LINES


def test_the_readme_says_how_to_make_many_simulator_tasks() -> None:
    assert "`kpstask simulate --tasks 300`" in README
    assert "--tasks N" in DOCS["simulator.md"]
