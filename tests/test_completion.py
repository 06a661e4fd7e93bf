"""Shell completion: the shipped scripts are current, candidates come through the real
protocol (`_KPSTASK_COMPLETE`) in a subprocess, and answering imports nothing heavy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpstask.cli import app
from tests.conftest import fake_run

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KPSTASK = BIN / "kpstask"
FILES = {"bash": "kpstask.bash", "zsh": "_kpstask", "fish": "kpstask.fish", "powershell": "kpstask.ps1"}


@pytest.mark.parametrize(("shell", "name"), FILES.items())
def test_shipped_scripts_are_current(shell: str, name: str) -> None:
    result = CliRunner().invoke(app, ["completion", shell], obj=fake_run())
    assert result.exit_code == 0
    shipped = (ROOT / "completions" / name).read_text(encoding="utf-8")
    assert result.stdout == shipped, (
        f"completions/{name} is stale: run `kpstask completion {shell} > completions/{name}`"
    )


def test_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["completion", "tcsh"], obj=fake_run())
    assert result.exit_code == 2
    assert "kpstask: error:" in result.stderr


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "_KPSTASK", "_TYPER"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def complete(shell: str, line: str) -> list[str]:
    """Ask for candidates the way each shell's script does."""
    words = line.split(" ")
    if shell == "bash":
        env = clean_env(_KPSTASK_COMPLETE="complete_bash", COMP_WORDS=line, COMP_CWORD=str(len(words) - 1))
    elif shell == "zsh":
        env = clean_env(_KPSTASK_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS=line)
    else:
        env = clean_env(
            _KPSTASK_COMPLETE="complete_fish", _TYPER_COMPLETE_FISH_ACTION="get-args", _TYPER_COMPLETE_ARGS=line
        )
    proc = subprocess.run([str(KPSTASK)], env=env, capture_output=True, text=True, timeout=30, check=True)
    return proc.stdout.splitlines()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize(
    ("line", "expected", "unexpected"),
    [
        ("kpstask g", "get", "simulate"),
        ("kpstask w", "wait", "get"),
        ("kpstask get --reg", "--region", "--retries"),
        ("kpstask get --region cn-north-", "cn-north-4", "ap-southeast-1"),
        ("kpstask wait -r eu", "eu-west-101", "cn-north-4"),
        ("kpstask get -o ", "json", "yaml"),
        ("kpstask wait --progress ", "plain", "json"),
        ("kpstask completion ", "fish", "tcsh"),
    ],
)
def test_candidates(shell: str, line: str, expected: str, unexpected: str) -> None:
    out = "\n".join(complete(shell, line))
    assert expected in out
    assert unexpected not in out


HEAVY = ("requests", "rich", "pydantic", "urllib3")
REPORT = f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
RUN_MAIN = "import sys\nfrom kpstask.entry import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n" + REPORT


def loaded_modules(script: str, args: list[str], **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.stderr.splitlines()[-1]


@pytest.mark.startup
def test_importing_the_cli_loads_nothing_heavy() -> None:
    assert loaded_modules("import sys, kpstask.cli\n" + REPORT, []) == "LOADED []"


@pytest.mark.startup
@pytest.mark.parametrize("args", [["--help"], ["get", "--help"], ["wait", "--help"], ["--version"]])
def test_help_and_version_load_nothing_heavy(args: list[str]) -> None:
    assert loaded_modules(RUN_MAIN, args) == "LOADED []"


@pytest.mark.startup
def test_answering_a_completion_loads_nothing_heavy() -> None:
    env = {"_KPSTASK_COMPLETE": "complete_bash", "COMP_WORDS": "kpstask get --region cn", "COMP_CWORD": "3"}
    assert loaded_modules(RUN_MAIN, [], **env) == "LOADED []"


# -- the shipped files in the real shells ---------------------------------------------


def test_bash_script_in_bash() -> None:
    script = (
        f"source {ROOT / 'completions' / 'kpstask.bash'}\n"
        "COMP_WORDS=(kpstask get --region cn-north-); COMP_CWORD=3\n"
        "_kpstask_completion kpstask\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(
        ["bash", "--norc", "-c", script], env=clean_env(), capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "cn-north-4" in out.split()


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (.ci/run installs it where it can)")
def test_zsh_script_in_zsh() -> None:
    script = (
        '_arguments() { print -rl -- "$@" }\n'  # stand-in for zsh's completion system
        "compdef() { }\n"
        f"source {ROOT / 'completions' / '_kpstask'}\n"
        'words=(kpstask get -o ""); CURRENT=4\n'
        "_kpstask_completion\n"
    )
    out = subprocess.run(
        ["zsh", "-f", "-c", script], env=clean_env(), capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert '"json"' in out


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (.ci/run installs it where it can)")
def test_fish_script_in_fish() -> None:
    script = f'source {ROOT / "completions" / "kpstask.fish"}; complete -C "kpstask get --region cn-north-"'
    out = subprocess.run(
        ["fish", "--no-config", "-c", script], env=clean_env(), capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "cn-north-4" in out.split()


def test_install_completion_still_works(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(KPSTASK), "--install-completion", "bash"],
        env=clean_env(HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".bash_completions" / "kpstask.sh").exists()


@pytest.mark.parametrize(
    ("env", "loaded"),
    [
        ({"COMP_WORDS": "kpstask get --reg"}, "get"),
        ({"COMP_WORDS": "kpstask config "}, "config"),
        ({"COMP_WORDS": "kpstask ge"}, None),  # the command name itself: every command is a candidate
        ({"_TYPER_COMPLETE_ARGS": "kpstask wait -r eu"}, "wait"),
        ({"_TYPER_COMPLETE_ARGS": "kpstask nosuch --x"}, None),
        ({}, None),
    ],
)
def test_tab_loads_only_the_command_being_completed(env: dict[str, str], loaded: str | None) -> None:
    from kpstask.cli import _completing

    assert _completing(env) == loaded
