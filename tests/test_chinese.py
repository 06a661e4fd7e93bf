"""Every command's human output in Chinese (`--lang zh`): no English word a person reads,
outside the names that are never translated; and the machine output (JSON Lines, TSV) of
the same commands byte for byte the same in both languages.

What counts as a name (the issue's allow-list, made precise): an all-capital word (status
codes such as RUNNING_RESET, environment variables, KPS, IAM, JSON, TSV, HTTP, the metavars
TASK_ID, REGION), an option or command name and its values (`--output human`), a word with
a digit (ids, regions such as cn-north-4), and the proper names listed in NAMES. Ids, URLs,
paths, quoted code (`...`) and the text a server sent are taken out before the words are
looked at: they are shown as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from kpstask.cli import COMMANDS
from kpstask.cli.examples import EXAMPLES
from kpstask.settings import SETTINGS
from kpstask.simulator import Scenario, Simulator
from tests.conftest import CANARY, PROJECT, FakeClock, run, task_url
from tests.test_terminal_widths import in_terminal

PATHS = ["", *(name for name in COMMANDS if name != "config"), "config", "config show"]
SERVER_TEXT = "The server is stopped; start it and try again"
TASKS = {
    "zh-ok": {"status": "SUCCESS_RESET"},
    "zh-failed": {"status": "FAILED_REPLACE", "error_code": "KPS.2019", "error_msg": SERVER_TEXT},
    "zh-running": {"operation": "bind", "outcome": "never", "ready_s": 0},
}
# Proper names and the words of programs and formats that are written as they are in Chinese.
NAMES = {
    "kpstask",
    "GitHub",
    "Actions",
    "OpenID",
    "Connect",
    "Kubernetes",
    "GitLab",
    "Huawei",
    "Ctrl-C",
    "PowerShell",
    "bash",
    "zsh",
    "fish",
    "powershell",
    "pwsh",
    "shell",
    "jq",
    "chmod",
    "base64url",
    "assume-with-oidc",
    "id_tokens",
    "true",
    "false",
    "null",
    "taskId",
    "X-Sdk-Date",
    "X-Subject-Token",
    "demo",
    "Tab",
    "running-tasks",
    "failed-tasks",
    "Lines",
    "bash-completion",
}
# The values of the options, as typed (--output human, --progress live, --lang zh).
OPTION_VALUES = {"human", "json", "tsv", "auto", "live", "plain", "none", "en", "zh", "cn", "zh-Hans", "zh_CN", "zh-CN"}
PROFILE_KEYS = {setting.profile_key for setting in SETTINGS if setting.profile_key} | {"default"}
COMMAND_WORDS = set(COMMANDS) | {"show"}
_TAKEN_OUT = re.compile(
    r"`[^`]*`"  # code
    r"|\"[^\"]*\""  # a quoted API text
    r"|(?<!\w)'[^']*'"  # a value as given, quoted
    r"|https?://\S*"  # a URL
    r"|(?<![\w-])--?[a-z][\w-]*(?:[ =](?:<[^>]*>|[a-z][\w|-]*))?"  # an option, with its value
    r"|\$\w+|~?/[\w./~-]+|\S*\.(?:json|toml|txt|sk)\b"  # variables and paths
    r"|[<>]=x[<>]=|\bx[<>]="  # click's ranges
    r"|\b[a-z][\w-]*(?:\.[\w-]+)+"  # a host name
)
_WORD = re.compile(r"(?<![\w-])[A-Za-z][\w'-]*")
# The commands of the Examples (not their explanations): shell, as typed.
EXAMPLE_LINES = {line for lines in EXAMPLES.values() for line in lines if not line.startswith("#")}


def english_words(text: str, *shown_as_is: str) -> list[str]:
    """The English words of `text` a person would read (see the module's docstring)."""
    for literal in shown_as_is:
        text = text.replace(literal, " ")
    lines = [line for line in text.splitlines() if line.strip() not in EXAMPLE_LINES]
    words = _WORD.findall(_TAKEN_OUT.sub(" ", "\n".join(lines)))
    allowed = NAMES | OPTION_VALUES | PROFILE_KEYS | COMMAND_WORDS
    return [
        word
        for word in words
        if word not in allowed and not word.replace("_", "").replace("-", "").isupper() and not re.search(r"\d", word)
    ]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    tasks = [{"id": task_id, "server_id": "f" * 36, **spec} for task_id, spec in TASKS.items()]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks})) as running:
        yield running


def zh(sim: Simulator, *args: str, clock: FakeClock | None = None, **env: str) -> tuple[int, str, str]:
    result = run(*args, env={"KPSTASK_ENDPOINT": sim.url, "KPSTASK_LANG": "zh", **env}, clock=clock)
    return result.exit_code, result.stdout, result.stderr


def assert_chinese(text: str, *shown_as_is: str) -> None:
    assert text.strip(), "nothing to read"
    assert english_words(text, SERVER_TEXT, *TASKS, "nobody", "f" * 36, "ecs-demo", "kp-demo", *shown_as_is) == [], text


# -- every command's human output --------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_help_of_every_command(path: str) -> None:
    result = run(*path.split(), "--help", env={"KPSTASK_LANG": "zh"}, with_defaults=False)
    assert result.exit_code == 0
    assert_chinese(result.stdout)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("columns", [60, 80, 200])
def test_help_fits_the_terminal_in_chinese(path: str, columns: int) -> None:
    # A process of its own: click measures the terminal (COLUMNS) as the process starts.
    import os
    import subprocess
    import sys

    from kpstask.text import cell_width

    kpstask = Path(sys.executable).with_name("kpstask")
    env = {**os.environ, "KPSTASK_LANG": "zh", "COLUMNS": str(columns)}
    text = subprocess.run(
        [str(kpstask), *path.split(), "--help"], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("示例:")[0]
    wide = [line for line in text.splitlines() if cell_width(line) > min(columns, 80)]
    assert wide == [], wide  # click keeps to 80 columns in a wider terminal


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["get", "zh-ok", "zh-failed", "zh-running"], 1),
        (["get", "zh-running"], 3),
        (["wait", "zh-ok", "zh-failed", "--progress", "plain"], 1),
        (["wait", "zh-running", "--timeout", "3", "--progress", "plain"], 124),
        (["running"], 0),
        (["failed"], 0),
        (["config", "show"], 0),
    ],
)
def test_commands(sim: Simulator, args: list[str], code: int) -> None:
    exit_code, out, err = zh(sim, *args)
    assert exit_code == code, err
    assert_chinese(out + err)


def test_wait_live_in_a_terminal(sim: Simulator) -> None:
    code, screen = in_terminal(sim, 100, "wait", "zh-ok", "zh-failed", "--timeout", "60", lang="zh")
    assert code == 1
    assert_chinese(" ".join(screen.text()))  # rich wraps the server's text under the table: one line again


def test_github_annotation_and_job_summary(sim: Simulator, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    code, _out, err = zh(sim, "wait", "zh-ok", "zh-failed", "-q", **env)
    assert code == 1 and err.startswith("::error::kpstask: ")
    assert_chinese(err.removeprefix("::error::"))
    assert_chinese(summary.read_text(encoding="utf-8").replace("\\_", "_"))


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["get", "bad/id"], {}, 2),
        (["get", "zh-ok", "--regoin", "x"], {}, 2),
        (["get", "zh-ok", "-o", "xml"], {}, 2),
        (["gett"], {}, 2),
        (["get", "zh-ok", "--timeout", "5"], {}, 2),
        (["wait", "zh-ok", "--timeout", "soon"], {}, 2),
        (["get", "zh-ok"], {"KPSTASK_ENDPOINT": "", "KPSTASK_PROJECT_ID": "", "KPSTASK_TOKEN": ""}, 2),
        (["get", "zh-ok", "--retries", "0"], {"KPSTASK_REGION": "cn-nort-4", "KPSTASK_ENDPOINT": ""}, 7),
        (["get", "zh-ok"], {"KPSTASK_TOKEN": "not-the-token"}, 4),
        (["get", "zh-ok"], {"KPSTASK_TOKEN": "", "KPSTASK_ACCESS_KEY": "AKEXAMPLE0000000"}, 2),
        (["get", "zh-ok"], {"KPSTASK_TOKEN": "", "KPSTASK_USERNAME": "alice"}, 2),
        (["get", "zh-ok"], {"KPSTASK_TOKEN": "", "KPSTASK_ID_TOKEN": "a.b.c"}, 2),
        (["get", "zh-ok"], {"KPSTASK_TOKEN": "", "KPSTASK_AGENCY_URN": "iam::1:agency:a"}, 2),
        (["get", "zh-ok"], {"KPSTASK_ENDPOINT": "http://example.com"}, 2),
        (["get", "zh-ok"], {"KPSTASK_PROJECT_ID": "12"}, 2),
        (["config", "show"], {"KPSTASK_REGION": "cn-nort-4", "KPSTASK_ENDPOINT": "", "KPSTASK_TOKEN": ""}, 2),
        (["config", "show", "--profile", "nope"], {}, 2),
        (["get", "nobody"], {}, 5),
        (["get", "zh-ok", "--retries", "0"], {"KPSTASK_ENDPOINT": "http://127.0.0.1:1"}, 7),
    ],
)
def test_errors_of_each_exit_code(sim: Simulator, args: list[str], env: dict[str, str], code: int) -> None:
    given = {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": PROJECT, "KPSTASK_TOKEN": CANARY, **env}
    given = {name: value for name, value in given.items() if value}  # "" takes a setting away
    result = run(*args, env={**given, "KPSTASK_LANG": "zh", "KPSTASK_METADATA_DISABLED": "true"}, with_defaults=False)
    assert result.exit_code == code, result.stderr
    if args[0] != "config":  # config show lists its problems on stdout
        assert "kpstask: 错误: " in result.stderr, result.stderr
    server = (
        "taskId is illegal",
        "Incorrect IAM authentication information",
        "token is invalid",
        "example.com",
        "nope",
    )
    assert_chinese(result.stdout + result.stderr, *server)


def test_an_api_error(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "KPS.9999", "error_msg": "internal error"}, status=500)
    result = run("get", "t1", "--retries", "0", env={"KPSTASK_LANG": "zh"})
    assert result.exit_code == 6
    assert_chinese(result.stdout + result.stderr, "internal error")


def test_durations_read_naturally() -> None:
    from kpstask.durations import elapsed
    from kpstask.i18n import use

    before = use("zh")
    try:
        assert [elapsed(4.25), elapsed(130), elapsed(3720)] == ["4.2秒", "2分10秒", "1小时02分"]
    finally:
        use(before)


# -- machine output: the same bytes in both languages ---------------------------------------------


class StillClock(FakeClock):
    """Time moves only by the run's sleeps: the same run gives the same elapsed_s every time."""

    def __call__(self) -> float:
        return 1000.0 + self.skipped


MACHINE = [
    ["get", "zh-ok", "zh-failed", "zh-running"],
    ["wait", "zh-ok", "zh-failed", "--progress", "none"],
    ["wait", "zh-running", "--timeout", "3", "--progress", "none"],
    ["running"],
    ["failed"],
    ["config", "show"],
]


@pytest.mark.parametrize("output", ["json", "tsv"])
@pytest.mark.parametrize("args", MACHINE, ids=" ".join)
def test_json_and_tsv_are_the_same_in_both_languages(sim: Simulator, args: list[str], output: str) -> None:
    said = {}
    for lang in ("en", "zh"):
        result = run(*args, "-o", output, env={"KPSTASK_ENDPOINT": sim.url, "KPSTASK_LANG": lang}, clock=StillClock())
        said[lang] = (result.exit_code, result.stdout)
    assert said["zh"] == said["en"]
    assert said["en"][1]


@pytest.mark.parametrize("output", ["json", "tsv"])
def test_machine_errors_are_the_same_in_both_languages(output: str) -> None:
    env = {"KPSTASK_REGION": "cn-nort-4", "KPSTASK_PROJECT_ID": "12", "KPSTASK_METADATA_DISABLED": "true"}
    said = {
        lang: run("config", "show", "-o", output, env={**env, "KPSTASK_LANG": lang}, with_defaults=False).stdout
        for lang in ("en", "zh")
    }
    assert said["zh"] == said["en"]
    assert "problem" in said["en"]


@pytest.mark.parametrize("output", ["json", "tsv"])
def test_error_records_are_the_same_in_both_languages(kps: responses.RequestsMock, output: str) -> None:
    refused = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}
    kps.get(task_url("gone"), json={"error_code": "KPS.0001", "error_msg": "taskId is illegal"}, status=400)
    kps.get(task_url("locked"), json=refused, status=401, headers={"X-Request-Id": "req-1"})
    said = {
        lang: run("get", "gone", "locked", "after", "-o", output, env={"KPSTASK_LANG": lang}) for lang in ("en", "zh")
    }
    assert (said["zh"].exit_code, said["zh"].stdout) == (said["en"].exit_code, said["en"].stdout)
    assert said["en"].exit_code == 4 and said["en"].stdout.count("\n") == 3
    assert said["zh"].stderr != said["en"].stderr


def test_an_error_object_keeps_its_english_message(sim: Simulator) -> None:
    env = {"KPSTASK_ENDPOINT": "http://127.0.0.1:1", "KPSTASK_LANG": "zh"}
    line = json.loads(run("get", "t1", "-o", "json", "--retries", "0", env=env).stdout)
    assert line["error"]["message"] == "connection refused by 127.0.0.1"


def test_the_english_is_unchanged() -> None:
    assert run("get", "bad/id").stderr.startswith("kpstask: error: invalid task id: got 'bad/id'")


# -- wrapping by terminal cells ---------------------------------------------------------------------

COMMA, STOP, OPEN, CLOSE = "\uff0c", "\u3002", "\uff08", "\uff09"  # full-width , . ( )
_WORDS = st.lists(
    st.sampled_from(["密钥对", "任务", "重置", COMMA, STOP, OPEN, CLOSE, "KPS.2019", "id-1234", "a", "the"])
)


@given(words=_WORDS, width=st.integers(min_value=6, max_value=60))
def test_wrap_cells_never_overflows_but_for_one_word_and_loses_nothing(words: list[str], width: int) -> None:
    from kpstask.text import cell_width, wrap_cells

    text = " ".join(words)
    lines = wrap_cells(text, width, "", "  ")
    for line in lines:  # too wide only when it is one unbreakable piece after the indent
        assert cell_width(line) <= width or " " not in line.strip(), (line, width)
    assert "".join("".join(lines).split()) == "".join(text.split())
    compact = wrap_cells("".join(words), width, "", "  ")  # as Chinese is written: no spaces
    assert not any(line.lstrip().startswith((COMMA, STOP, CLOSE)) for line in compact[1:]), compact
    assert not any(line.endswith(OPEN) for line in compact[:-1]), compact


def test_simulate_writes_the_same_shell_lines_in_chinese() -> None:
    # Its stdout is a file scripts source and wait on (`until grep -qs '^# ready' sim.env`).
    import os
    import subprocess
    import sys

    kpstask = Path(sys.executable).with_name("kpstask")
    env = {**os.environ, "KPSTASK_LANG": "zh"}
    proc = subprocess.Popen(
        [str(kpstask), "simulate", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        lines = [proc.stdout.readline() for _ in range(6)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert lines[0].startswith("# kpstask simulator listening on http://") and lines[-1] == "# ready\n"
    assert proc.stderr.read().startswith("kpstask: 模拟器: ")  # its log and its last word: for people


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [(ValueError("boom"), 70, "意外的 ValueError"), (KeyboardInterrupt(), 130, "已中断")],
)
def test_a_bug_and_an_interrupt(monkeypatch: pytest.MonkeyPatch, raised: BaseException, code: int, said: str) -> None:
    import kpstask.tasks

    def broken(*args: object, **kwargs: object) -> int:
        raise raised

    monkeypatch.setattr(kpstask.tasks, "run_get", broken)
    result = run("get", "t1", env={"KPSTASK_LANG": "zh"})
    assert result.exit_code == code
    assert result.stderr.startswith(f"kpstask: 错误: {said}"), result.stderr
    assert_chinese(result.stderr, "ValueError", "boom")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written(sim: Simulator) -> None:
    import os
    import subprocess
    import sys

    kpstask = Path(sys.executable).with_name("kpstask")
    env = {**os.environ, "KPSTASK_LANG": "zh", "KPSTASK_ENDPOINT": sim.url, "KPSTASK_TOKEN": CANARY}
    env["KPSTASK_PROJECT_ID"] = PROJECT
    with open("/dev/full", "w") as full:
        args = [str(kpstask), "get", "zh-ok"]
        done = subprocess.run(args, env=env, stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert done.returncode == 74
    assert done.stderr == "kpstask: 错误: 无法写入标准输出\uff1a设备上没有空间\n"  # the OS's words too
