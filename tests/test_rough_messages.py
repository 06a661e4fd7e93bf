"""Issue 20's rough edges in messages and `config show`: error lines wrapped at words on a
terminal (item 5), `config show --help` in 80 columns (6), a suggestion for each unknown
config key (7), `config show` as a pre-flight check (8), an endpoint with a password shown
masked (11), and secrets masked before any cut (16)."""

from __future__ import annotations

import io
import json
import os
import pty
import struct
import sys
from pathlib import Path
from typing import cast

import pytest
import responses

from kpstask.context import Run
from kpstask.settings import SETTINGS
from kpstask.settings.config import key_hint
from kpstask.text import one_line
from tests.conftest import CANARY, run, task_url
from tests.terminal import Screen

KPSTASK = Path(sys.executable).with_name("kpstask")
LONG_ID = "x" * 90  # wider than the terminal: never split
WORDS = "the credentials were refused by the server while the task was not waited for, " * 3


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def unset(*names: str, **values: str) -> dict[str, str]:
    """An environment for `run`: `names` taken away from its defaults, `values` set."""
    return {**dict.fromkeys(names, cast(str, None)), **values}


def said(text: str, *, tty: bool, columns: str = "80") -> list[str]:
    stderr = Terminal() if tty else io.StringIO()
    Run(stderr=stderr, env={"COLUMNS": columns}).say("error", text)
    return stderr.getvalue().splitlines()


# -- 5: error and warning lines wrap at words on a terminal, never on a pipe -----------------


@pytest.mark.parametrize("columns", ["60", "80"])
def test_a_long_error_wraps_at_words_on_a_terminal(columns: str) -> None:
    lines = said(f"task {LONG_ID}: {WORDS}", tty=True, columns=columns)
    assert len(lines) > 2
    assert all(line.startswith("kpstask: ") for line in lines), lines
    assert all(len(line) <= int(columns) for line in lines if LONG_ID not in line), lines
    assert any(line.split()[-1] == LONG_ID + ":" or LONG_ID + ":" in line.split() for line in lines)  # whole
    assert all(line.startswith("kpstask:        ") for line in lines[1:])  # under the message
    words = " ".join(line.split(": ", 1)[1] if i == 0 else line[len("kpstask: ") :] for i, line in enumerate(lines))
    assert words.split() == ["error:", "task", LONG_ID + ":", *WORDS.split()]


def test_a_pipe_gets_the_long_error_on_one_line() -> None:
    assert said(f"task {LONG_ID}: {WORDS}", tty=False) == [f"kpstask: error: task {LONG_ID}: {WORDS.strip()}"]


def test_a_short_line_is_left_alone_on_a_terminal() -> None:
    assert said("interrupted", tty=True) == ["kpstask: error: interrupted"]


def in_terminal(width: int, *args: str, env: dict[str, str]) -> tuple[int, Screen]:
    """kpstask with a pseudo-terminal of `width` columns as all three streams."""
    full = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full.update(env, TERM="xterm")
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        import fcntl
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, width, 0, 0))
        os.execve(str(KPSTASK), [str(KPSTASK), *args], full)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), Screen(width).feed(data.decode("utf-8", "replace"))


@pytest.mark.parametrize("width", [60, 80])
def test_an_error_in_a_real_terminal_is_never_split_mid_word(width: int) -> None:
    env = {
        "KPSTASK_ENDPOINT": "https://kms.example.com",
        "KPSTASK_PROJECT_ID": "not-a-project",
        "KPSTASK_TOKEN": CANARY,
    }
    code, screen = in_terminal(width, "get", "t1", env=env)
    assert code == 2
    assert not screen.wrapped, screen.text()
    lines = screen.text()
    assert len(lines) > 1 and all(line.startswith("kpstask: ") for line in lines), lines
    assert "KPSTASK_PROJECT_ID:" in " ".join(lines).split()


# -- 6: config show --help and config --help fit 80 columns -----------------------------------


@pytest.mark.parametrize("args", [("config", "show", "--help"), ("config", "--help")])
def test_config_help_fits_80_columns(args: tuple[str, ...]) -> None:
    shown = run(*args, env={"COLUMNS": "80"}).stdout
    assert all(len(line) <= 80 for line in shown.splitlines()), [x for x in shown.splitlines() if len(x) > 80]
    assert not [line for line in shown.splitlines() if line.startswith("  show") and line.endswith("...")]  # whole


@pytest.mark.parametrize("args", [("config", "show", "--help"), ("config", "--help")])
def test_config_help_in_a_real_terminal_of_80_columns(args: tuple[str, ...]) -> None:
    code, screen = in_terminal(80, *args, env={})
    assert code == 0
    assert not screen.wrapped, [line for line in screen.text() if len(line) >= 80]


def test_every_variable_of_the_settings_table_is_whole_on_a_line() -> None:
    lines = run("config", "show", "--help").stdout.splitlines()
    for setting in SETTINGS:
        for name in setting.env:
            assert any(name in line.replace(",", " ").split() for line in lines), name


# -- 7: each unknown config key gets its own suggestion -----------------------------------------


@pytest.mark.parametrize(
    ("unknown", "words"),
    [
        (["regoin", "token"], ["did you mean region (for regoin)?", "token_file = PATH (for token)"]),
        (["password", "token"], ["password_file = PATH (for password)", "token_file = PATH (for token)"]),
        (["projectid", "regoin", "token"], ["project_id (for projectid)", "region (for regoin)", "token_file"]),
    ],
)
def test_each_unknown_key_gets_its_suggestion(unknown: list[str], words: list[str]) -> None:
    hint = key_hint(unknown)
    for word in words:
        assert word in hint, (word, hint)


def test_two_unknown_keys_in_the_config_file_each_get_their_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[default]\nregoin = "cn-north-4"\ntoken = "x"\n')
    result = run("get", "t1", env={"KPSTASK_CONFIG": str(path)})
    assert result.exit_code == 2
    assert "did you mean region (for regoin)?" in result.stderr and "token_file = PATH (for token)" in result.stderr


# -- 8: config show as a pre-flight check ----------------------------------------------------


def test_config_show_names_a_region_not_in_the_table_as_a_problem() -> None:
    env = unset("KPSTASK_ENDPOINT", KPSTASK_REGION="cn-nort-4")
    result = run("config", "show", "-o", "tsv", env=env)
    assert result.exit_code == 2
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert ["region", "cn-nort-4", "environment variable KPSTASK_REGION"] in rows
    problem = next(row for row in rows if row[0] == "problem")
    assert problem[1] == "region" and "cn-nort-4 is not in kpstask's table" in problem[2]
    assert "trying it anyway" not in result.stderr
    human = run("config", "show", env=env)
    assert human.exit_code == 2 and "did you mean cn-north-4?" in human.stdout, human.stdout


def test_config_show_names_the_problem_of_a_region_once() -> None:
    env = unset(
        "KPSTASK_ENDPOINT",
        "KPSTASK_TOKEN",
        KPSTASK_REGION="CN-NORTH-4",
        KPSTASK_USERNAME="u",
        KPSTASK_DOMAIN="d",
        KPSTASK_PASSWORD="pw-123456",
    )
    result = run("config", "show", "-o", "tsv", env=env)
    assert result.exit_code == 2
    assert result.stdout.count("invalid region 'CN-NORTH-4'") == 1, result.stdout


@pytest.mark.parametrize(
    ("env", "code"),
    [
        ({}, 0),
        (unset("KPSTASK_ENDPOINT", KPSTASK_REGION="cn-nort-4"), 2),
        ({"KPSTASK_PROJECT_ID": "nope"}, 2),
    ],
)
def test_config_show_quiet_says_it_in_the_exit_code_only(env: dict[str, str], code: int) -> None:
    result = run("config", "show", "-q", env=env)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", "")


# -- 11: an endpoint with a password keeps its host, never the password -------------------------


@pytest.mark.parametrize("output", ["human", "tsv"])
def test_config_show_keeps_the_host_of_an_endpoint_with_a_password(output: str) -> None:
    result = run("config", "show", "-o", output, env={"KPSTASK_ENDPOINT": "https://u:SECRET-pw-9@kms.example.com"})
    assert result.exit_code == 2
    assert "SECRET" not in result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("endpoint"))
    assert "https://u:***@kms.example.com" in row and "user name or password" in row, row


def test_config_show_json_keeps_the_host_of_an_endpoint_with_a_password() -> None:
    result = run("config", "show", "-o", "json", env={"KPSTASK_ENDPOINT": "https://u:SECRET-pw-9@kms.example.com"})
    rows = {r["setting"]: r for r in map(json.loads, result.stdout.splitlines()) if "setting" in r}
    assert rows["endpoint"]["value"] == "https://u:***@kms.example.com"


def test_an_endpoint_with_only_a_user_name_does_not_show_it() -> None:
    result = run("config", "show", "-o", "tsv", env={"KPSTASK_ENDPOINT": "https://tok-ABCDEF123@kms.example.com"})
    assert result.exit_code == 2
    assert "tok-ABCDEF123" not in result.stdout + result.stderr
    assert "endpoint\thttps://***@kms.example.com\t" in result.stdout


# -- 16: masked before cut -----------------------------------------------------------------------


def test_a_secret_cut_before_it_was_masked_is_masked_all_the_same() -> None:
    token = "tok-" + "s3cr3t" * 5  # 34 characters
    runner = Run(stderr=io.StringIO(), env={})
    runner.add_secret(token)
    for shown in range(4, len(token)):
        cut = one_line("x" * (297 - shown) + token + " and more")  # what answers.py does to a message
        assert token[:shown] + "..." in cut
        assert token[:4] not in runner.redact(cut), shown
        assert runner.redact(cut).endswith("x ***...") or runner.redact(cut).endswith("x***...")


def test_say_masks_before_it_cuts() -> None:
    token = "tok-" + "s3cr3t" * 5
    stderr = io.StringIO()
    runner = Run(stderr=stderr, env={})
    runner.add_secret(token)
    runner.say("error", "x" * 1985 + token)
    assert token[:4] not in stderr.getvalue() and "***" in stderr.getvalue()


def test_a_short_prefix_before_a_cut_is_left_alone_and_words_are_not_garbled() -> None:
    runner = Run(stderr=io.StringIO(), env={})
    runner.add_secret("tok-" + "s3cr3t" * 5)
    assert runner.redact("a message that was cut to... tok") == "a message that was cut to... tok"
    assert runner.redact("ends in tok...") == "ends in tok..."  # 3 characters: not a secret's beginning


def test_a_token_echoed_by_the_server_at_the_cut_is_not_shown_in_part(kps: responses.RequestsMock) -> None:
    message = "the token " + "y" * 273 + " " + CANARY + " was refused"  # CANARY cut after 13 characters
    kps.get(task_url("t1"), json={"error_code": "APIGW.0301", "error_msg": message}, status=401)
    result = run("get", "t1")
    assert result.exit_code == 4
    assert one_line(message).endswith(CANARY[:13] + "...")  # as the issue found it: 13 characters shown
    assert CANARY[:8] not in result.stderr and "***..." in result.stderr, result.stderr
