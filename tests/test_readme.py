"""The README stays true: the CI command, every option, variable and exit code."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from kpstask.cli import app
from kpstask.errors import ExitCode
from kpstask.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line.split(" || ")[0] for line in ci.splitlines() if "pytest" in line and "venv" in line)
    assert f"\n{command}\n" in README


def test_every_option_is_documented() -> None:
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert f"kpstask {name}" in README, name
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("-") and opt not in ("--help", "-h"):
                    assert f"`{opt}" in README or f", {opt}" in README, f"{name} {opt}"


def test_every_environment_variable_is_documented() -> None:
    names = [name for setting in SETTINGS for name in setting.env]
    names += ["NO_COLOR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "GITHUB_ACTIONS", "FORCE_COLOR"]
    for name in names:
        assert re.search(f"`{name}[`=]", README), name


def test_exit_code_table_matches_the_contract() -> None:
    section = README.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}
