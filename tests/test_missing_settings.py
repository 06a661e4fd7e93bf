"""Every missing or invalid setting in one error, and `config show` as a checklist: a problem
record in every format, the endpoint row always there, did-you-mean for regions and config
keys, and never a secret in any of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kpstask.errors import then
from tests.conftest import CANARY, PROJECT, run

NOTHING: dict[str, str] = {}
ALL_MISSING = "kpstask: error: missing settings: region (or endpoint), project id, credentials"


def lines_of(text: str) -> list[str]:
    return text.splitlines()


# -- one error names them all ---------------------------------------------------------------


@pytest.mark.parametrize("args", [["get", "t1"], ["wait", "t1"], ["running"], ["failed"]])
def test_nothing_configured_names_every_missing_setting_at_once(args: list[str]) -> None:
    result = run(*args, env=NOTHING, with_defaults=False)
    assert result.exit_code == 2
    first, *hints = lines_of(result.stderr)
    assert first == ALL_MISSING
    assert result.stderr.count("error:") == 1 and all(line.startswith("kpstask:   ") for line in hints)
    text = result.stderr
    names = (
        "--region",
        "KPSTASK_REGION",
        "--endpoint",
        "KPSTASK_ENDPOINT",
        "--project-id",
        "KPSTASK_PROJECT_ID",
        "--token-file",
        "KPSTASK_TOKEN",
        "KPSTASK_ACCESS_KEY",
        "KPSTASK_SECRET_KEY",
        "KPSTASK_USERNAME",
        "KPSTASK_DOMAIN",
        "KPSTASK_PASSWORD",
        "--profile",
        "config show --help",
    )
    for name in names:
        assert name in text, name
    assert all(len(line) <= 80 for line in hints), hints
    assert len(hints) <= 10


def test_token_needs_no_endpoint() -> None:
    result = run("token", env=NOTHING, with_defaults=False)
    assert result.exit_code == 2
    assert lines_of(result.stderr)[0] == "kpstask: error: missing settings: project id, credentials"
    assert "--region" not in result.stderr


def test_missing_and_invalid_together() -> None:
    result = run("get", "t1", "-r", "cn_north_4", env={"KPSTASK_PROJECT_ID": "abc"}, with_defaults=False)
    assert result.exit_code == 2
    first, *hints = lines_of(result.stderr)
    assert first == "kpstask: error: 3 problems with the settings: region, project id, credentials"
    assert "kpstask:   invalid region 'cn_north_4' (from --region)" in hints
    assert "kpstask:     did you mean cn-north-4?" in hints
    assert any("got 3 characters" in line for line in hints)
    assert "kpstask:   credentials  one of (flags, variables or a profile, --profile):" in hints


def test_one_invalid_setting_stays_one_line() -> None:
    result = run("get", "t1", "-p", "abc")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "got 3 characters; hint: a project id" in result.stderr


def test_a_broken_config_file_is_said_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[default\n")
    result = run("get", "t1", env={"KPSTASK_CONFIG": str(path)}, with_defaults=False)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "not valid TOML" in result.stderr


def test_every_secret_file_is_checked_in_the_same_run(tmp_path: Path) -> None:
    result = run("get", "t1", "--token-file", str(tmp_path / "nope"), env={"KPSTASK_PROJECT_ID": "x"})
    assert result.exit_code == 2
    assert "problems with the settings: project id, token" in result.stderr
    assert "cannot read --token-file" in result.stderr


# -- config show: a checklist in every format -------------------------------------------------


def show(*args: str, env: dict[str, str] | None = None, defaults: bool = False) -> tuple[int, str]:
    result = run("config", "show", *args, env=env or NOTHING, with_defaults=defaults)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout


def test_config_show_human_checklist() -> None:
    code, out = show()
    assert code == 2
    rows, problems = out.split("\nproblems:\n")
    # The widest label is the metadata row's: why no credential came from the ECS metadata service.
    assert "endpoint           (none: set --region or --endpoint)" in rows
    assert "project id         (none: set --project-id or KPSTASK_PROJECT_ID)" in rows
    assert "metadata disabled  true  (environment variable KPSTASK_METADATA_DISABLED)" in rows
    marked = [line for line in problems.splitlines() if line.startswith("  \u2718 ")]
    assert marked == [
        "  \u2718 no region or endpoint given",
        "  \u2718 no project id given",
        "  \u2718 no credentials given: no token, no access key, no password, no OIDC identity "
        "provider; the ECS metadata service is not asked (environment variable "
        "KPSTASK_METADATA_DISABLED)",
    ]
    assert "        token      --token-file or KPSTASK_TOKEN" in problems
    assert all(line == line.rstrip() for line in out.splitlines())


def test_config_show_json_problems() -> None:
    code, out = show("-o", "json")
    assert code == 2
    records = [json.loads(line) for line in out.splitlines()]
    settings = {r["setting"]: r for r in records if "setting" in r}
    problems = [r for r in records if "problem" in r]
    assert settings["endpoint"] == {"setting": "endpoint", "value": "", "source": "none: set --region or --endpoint"}
    assert [p["problem"] for p in problems] == ["region (or endpoint)", "project id", "credentials"]
    assert problems[1]["message"] == "no project id given"
    assert problems[1]["hints"] == ["project id   --project-id or KPSTASK_PROJECT_ID"]


def test_config_show_tsv_problems() -> None:
    code, out = show("-o", "tsv")
    assert code == 2
    rows = [line.split("\t") for line in out.splitlines()]
    assert all(len(row) == 3 and "" not in row for row in rows)
    assert ["endpoint", "-", "none: set --region or --endpoint"] in rows
    assert ["problem", "project id", "no project id given"] in rows
    assert [row[1] for row in rows if row[0] == "problem"] == ["region (or endpoint)", "project id", "credentials"]


def test_config_show_without_problems_has_no_checklist() -> None:
    code, out = show(defaults=True)
    assert code == 0 and "problems" not in out
    code, out = show("-o", "json", defaults=True)
    assert code == 0 and not any("problem" in json.loads(line) for line in out.splitlines())


@pytest.mark.parametrize(
    ("env", "endpoint"),
    [
        ({}, ["", "none: set --region or --endpoint"]),
        ({"KPSTASK_REGION": "cn_north_4"}, ["", "none: the region is invalid"]),
        (
            {"KPSTASK_REGION": "cn-north-4"},
            ["https://kms.cn-north-4.myhuaweicloud.com", "environment variable KPSTASK_REGION"],
        ),
        ({"KPSTASK_ENDPOINT": "ftp://x.example.com"}, ["(invalid)", "environment variable KPSTASK_ENDPOINT"]),
        (
            {"KPSTASK_ENDPOINT": "https://kms.example.com", "KPSTASK_PROJECT_ID": PROJECT, "KPSTASK_TOKEN": CANARY},
            ["https://kms.example.com", "environment variable KPSTASK_ENDPOINT"],
        ),
    ],
)
def test_the_endpoint_row_is_always_there(env: dict[str, str], endpoint: list[str]) -> None:
    _, out = show("-o", "json", env=env)
    rows = {r["setting"]: [r["value"], r["source"]] for r in map(json.loads, out.splitlines()) if "setting" in r}
    assert rows["endpoint"] == endpoint


def test_config_show_debug_says_where_it_looked_never_the_values() -> None:
    env = {"KPSTASK_TOKEN": CANARY, "HW_AUTH_TOKEN": CANARY, "KPSTASK_PROJECT_ID": CANARY}
    result = run("config", "show", "--debug", env=env, with_defaults=False)
    assert result.exit_code == 2
    debug = [line for line in lines_of(result.stderr) if line.startswith("kpstask: debug: ")]
    token = next(line for line in debug if line.startswith("kpstask: debug: token: "))
    assert token == (
        "kpstask: debug: token: looked at --token-file, --token, KPSTASK_TOKEN, HW_AUTH_TOKEN, "
        "OS_AUTH_TOKEN, profile default key token_file; set: KPSTASK_TOKEN, HW_AUTH_TOKEN"
    )
    assert len(debug) >= 13  # every setting of the table


# -- no secret in any of it -------------------------------------------------------------------


@pytest.mark.parametrize("output", ["human", "json", "tsv"])
@pytest.mark.parametrize(
    "env",
    [
        {"KPSTASK_PROJECT_ID": CANARY, "KPSTASK_TOKEN": CANARY},  # a secret in the wrong variable
        {"KPSTASK_REGION": CANARY, "KPSTASK_ACCESS_KEY": CANARY},  # half an AK/SK
        {"KPSTASK_ENDPOINT": f"https://u:{CANARY}@kms.example.com", "KPSTASK_PASSWORD": CANARY},
        {"KPSTASK_TOKEN": f"{CANARY}\n"},
    ],
)
def test_no_secret_in_the_problems(env: dict[str, str], output: str) -> None:
    # `run` fails the test if the canary reaches stdout or stderr.
    assert run("config", "show", "-o", output, env=env, with_defaults=False).exit_code in (0, 2)
    assert run("get", "t1", "-o", output, env=env, with_defaults=False).exit_code == 2


def test_an_invalid_value_is_not_echoed_by_config_show() -> None:
    _, out = show("-o", "tsv", env={"KPSTASK_PROJECT_ID": "secret-in-the-wrong-place"})
    assert "secret-in-the-wrong-place" not in out
    assert "project id\t(invalid)\tenvironment variable KPSTASK_PROJECT_ID" in out


# -- did you mean, and no `?;` ----------------------------------------------------------------


def write_config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return {"KPSTASK_CONFIG": str(path)}


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('regoin = "cn-north-4"', ["unknown key(s) regoin", "did you mean region? Known keys: region, "]),
        ('projectid = "x"\nendpont = "x"', ["did you mean endpoint (for endpont), project_id (for projectid)? Known"]),
        ('colour = "red"', ["unknown key(s) colour", "known keys: region, "]),
        (
            f'token = "{CANARY}"',
            ["a secret is not kept in the config file: put it in a file and set token_file"],
        ),
    ],
)
def test_an_unknown_config_key_gets_a_did_you_mean(tmp_path: Path, table: str, words: list[str]) -> None:
    env = write_config(tmp_path, f"[default]\n{table}\n")
    result = run("get", "t1", env=env)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    shown = run("config", "show", "-o", "json", env=env)
    assert shown.exit_code == 2
    problem = json.loads(shown.stdout.splitlines()[-1])
    assert problem["problem"] == "config file"
    for word in words:
        assert word in result.stderr
        assert word in problem["message"] + "; hint: " + problem["hints"][0]
    assert "?;" not in result.stderr + shown.stdout


def test_an_unknown_profile_gets_a_did_you_mean(tmp_path: Path) -> None:
    env = write_config(tmp_path, '[default]\n[production]\nregion = "cn-north-4"\n')
    result = run("get", "t1", "--profile", "prodution", env=env)
    assert result.exit_code == 2
    assert "no profile 'prodution'" in result.stderr and "did you mean production? Profiles there:" in result.stderr


def test_clicks_did_you_mean_is_not_followed_by_a_semicolon() -> None:
    result = run("gett", "t1")
    assert result.exit_code == 2
    assert "Did you mean 'get'? See 'kpstask --help'" in result.stderr


@pytest.mark.parametrize(
    ("text", "more", "joined"),
    [("a", "b", "a; b"), ("did you mean x?", "hint: y", "did you mean x? Hint: y"), ("stop!", "go", "stop! Go")],
)
def test_then(text: str, more: str, joined: str) -> None:
    assert then(text, more) == joined
