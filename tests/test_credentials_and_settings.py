"""Where the request goes and which token it carries: flags, files, environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from tests.conftest import CANARY, ENDPOINT, PROJECT, add_task, run, task_url

OTHER = "OTHER-token-0c8f1e2d3b4a5968"


@pytest.fixture
def ok(kps: responses.RequestsMock) -> responses.RequestsMock:
    add_task(kps, "t1", "SUCCESS_RESET")
    return kps


def sent_token(kps: responses.RequestsMock) -> str:
    return kps.calls[-1].request.headers["X-Auth-Token"]


# -- token sources -------------------------------------------------------------------


def test_token_file_wins_and_is_stripped(ok: responses.RequestsMock, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"  {CANARY}\n\n")
    result = run("get", "t1", "--token-file", str(path), "--token", OTHER)
    assert result.exit_code == 0
    assert sent_token(ok) == CANARY


def test_token_file_from_stdin(ok: responses.RequestsMock) -> None:
    result = run("get", "t1", "--token-file", "-", input=CANARY + "\n", env={"KPSTASK_TOKEN": OTHER})
    assert result.exit_code == 0
    assert sent_token(ok) == CANARY


def test_token_flag_beats_environment(ok: responses.RequestsMock) -> None:
    assert run("get", "t1", "--token", CANARY, env={"KPSTASK_TOKEN": OTHER}).exit_code == 0
    assert sent_token(ok) == CANARY


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"KPSTASK_TOKEN": CANARY, "HW_AUTH_TOKEN": OTHER, "OS_AUTH_TOKEN": OTHER}, CANARY),
        ({"HW_AUTH_TOKEN": CANARY, "OS_AUTH_TOKEN": OTHER}, CANARY),
        ({"OS_AUTH_TOKEN": CANARY}, CANARY),
    ],
)
def test_environment_token_order(ok: responses.RequestsMock, env: dict[str, str], expected: str) -> None:
    result = run("get", "t1", env={"KPSTASK_TOKEN": None, **env})  # type: ignore[dict-item]
    assert result.exit_code == 0
    assert sent_token(ok) == expected


def test_token_help_warns_about_process_lists() -> None:
    assert "process lists" in run("get", "--help").stdout


def test_no_token_names_every_way_in_a_short_list(ok: responses.RequestsMock) -> None:
    result = run("get", "t1", env={"KPSTASK_TOKEN": None})  # type: ignore[dict-item]
    assert result.exit_code == 2
    first, *hints = result.stderr.splitlines()
    assert first == (
        "kpstask: error: no credentials given: no token, no access key, no password, no OIDC identity provider; "
        "the ECS metadata service is not asked (environment variable KPSTASK_METADATA_DISABLED)"
    )
    ways = [line.split()[1] for line in hints[1:-1]]
    assert ways == ["token", "AK/SK", "password", "OIDC", "ECS"], hints
    for source in (
        "--token-file",
        "KPSTASK_TOKEN",
        "KPSTASK_ACCESS_KEY",
        "KPSTASK_USERNAME",
        "--idp-id",
        "id-token: write",
        "config show --help",
    ):
        assert source in result.stderr
    assert len(result.stderr) < 900 and max(map(len, hints)) <= 80
    assert len(ok.calls) == 0


@pytest.mark.parametrize(
    "args_env",
    [
        (["--token", ""], {}),
        (["--token", "   \n"], {}),
        ([], {"KPSTASK_TOKEN": ""}),
        (["--token", f"{CANARY}\nX-Evil: 1"], {}),
        (["--token", f"abc\x00{CANARY}"], {}),
        (["--token", f"{CANARY}\x7f"], {}),
        (["--token", f"tök{CANARY}"], {}),
    ],
)
def test_bad_token_is_usage_error(ok: responses.RequestsMock, args_env: tuple[list[str], dict[str, str]]) -> None:
    args, env = args_env
    result = run("get", "t1", *args, env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("kpstask: error: the token from ")
    assert len(ok.calls) == 0


def test_empty_token_file(ok: responses.RequestsMock, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("\n")
    result = run("get", "t1", "--token-file", str(path))
    assert result.exit_code == 2
    assert f"the token from --token-file {path} is empty" in result.stderr


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p / "missing", "cannot read --token-file"),
        (lambda p: p, "cannot read --token-file"),
    ],
)
def test_unreadable_token_file(ok: responses.RequestsMock, tmp_path: Path, make: object, words: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    result = run("get", "t1", "--token-file", str(path))
    assert result.exit_code == 2
    assert words in result.stderr


def test_binary_and_huge_token_files(ok: responses.RequestsMock, tmp_path: Path) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00token")
    assert "is not a text file" in run("get", "t1", "--token-file", str(binary)).stderr
    huge = tmp_path / "huge"
    huge.write_text("a" * 70_000)
    result = run("get", "t1", "--token-file", str(huge))
    assert result.exit_code == 2
    assert "larger than 64 KiB" in result.stderr


# -- region, endpoint, project -------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({"KPSTASK_REGION": "cn-north-4"}, "https://kms.cn-north-4.myhuaweicloud.com"),
        ({"HW_REGION_NAME": "ap-southeast-1"}, "https://kms.ap-southeast-1.myhuaweicloud.com"),
        ({"OS_REGION_NAME": "eu-west-101"}, "https://kms.eu-west-101.myhuaweicloud.eu"),
        ({"KPSTASK_REGION": "cn-north-4", "HW_REGION_NAME": "cn-east-3"}, "https://kms.cn-north-4.myhuaweicloud.com"),
    ],
)
def test_region_picks_the_host(kps: responses.RequestsMock, env: dict[str, str], url: str) -> None:
    kps.get(f"{url}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET", "server_id": "s"})
    result = run("get", "t1", env={"KPSTASK_ENDPOINT": None, **env})  # type: ignore[dict-item]
    assert (result.exit_code, result.stderr) == (0, "")


def test_region_flag_beats_environment(kps: responses.RequestsMock) -> None:
    url = "https://kms.cn-east-3.myhuaweicloud.com"
    kps.get(f"{url}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET"})
    result = run("get", "t1", "-r", "cn-east-3", env={"KPSTASK_ENDPOINT": None, "KPSTASK_REGION": "cn-north-4"})  # type: ignore[dict-item]
    assert result.exit_code == 0


def test_unknown_region_warns_and_still_works(kps: responses.RequestsMock) -> None:
    url = "https://kms.xx-new-7.myhuaweicloud.com"
    kps.get(f"{url}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET"})
    result = run("get", "t1", "--region", "xx-new-7", env={"KPSTASK_ENDPOINT": None})  # type: ignore[dict-item]
    assert result.exit_code == 0
    assert result.stderr == "kpstask: warning: region xx-new-7 is not in kpstask's table; trying it anyway\n"


def test_a_likely_typo_of_a_region_is_named_and_still_tried(kps: responses.RequestsMock) -> None:
    url = "https://kms.cn-nort-4.myhuaweicloud.com"  # well-formed: it may be a region newer than kpstask
    kps.get(f"{url}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET"})
    result = run("get", "t1", "-r", "cn-nort-4", env={"KPSTASK_ENDPOINT": None})  # type: ignore[dict-item]
    assert result.exit_code == 0
    assert "region cn-nort-4 is not in kpstask's table (did you mean cn-north-4?); trying it anyway" in result.stderr


@pytest.mark.parametrize(("region", "guess"), [("CN-NORTH-4", "cn-north-4"), ("cn_east_3", "cn-east-3")])
def test_a_malformed_region_gets_a_did_you_mean(region: str, guess: str) -> None:
    result = run("get", "t1", "--region", region, env={"KPSTASK_ENDPOINT": None})  # type: ignore[dict-item]
    assert result.exit_code == 2
    assert result.stderr.rstrip().endswith(f"hint: did you mean {guess}?"), result.stderr


@pytest.mark.parametrize("region", ["CN-NORTH-4", "cn_north_4", "cn-north-4.evil.com/x", "", "north", "cn-" + "a" * 70])
def test_malformed_region_is_usage_error(region: str) -> None:
    result = run("get", "t1", "--region", region, env={"KPSTASK_ENDPOINT": None})  # type: ignore[dict-item]
    assert result.exit_code == 2
    assert "invalid region" in result.stderr


def test_endpoint_beats_region(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "SUCCESS_RESET")
    assert run("get", "t1", env={"KPSTASK_REGION": "cn-north-4"}).exit_code == 0
    assert run("get", "t1", "--endpoint", ENDPOINT, "--region", "cn-north-4").exit_code == 0
    assert [call.request.url for call in kps.calls] == [task_url("t1")] * 2


def test_a_region_flag_beats_an_endpoint_from_the_environment(kps: responses.RequestsMock) -> None:
    url = "https://kms.cn-north-4.myhuaweicloud.com"
    kps.get(f"{url}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET"})
    assert run("get", "t1", "--region", "cn-north-4").exit_code == 0  # KPSTASK_ENDPOINT is set by `run`
    assert kps.calls[0].request.url.startswith(url)


def test_endpoint_with_path_prefix(kps: responses.RequestsMock) -> None:
    kps.get(
        f"https://proxy.example.com/kps/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET"}
    )
    assert run("get", "t1", "--endpoint", "https://proxy.example.com/kps/").exit_code == 0


def test_neither_region_nor_endpoint() -> None:
    result = run("get", "t1", env={"KPSTASK_ENDPOINT": None})  # type: ignore[dict-item]
    assert result.exit_code == 2
    assert "--region" in result.stderr and "--endpoint" in result.stderr and "KPSTASK_REGION" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:1", "[::1]:9000", "127.5.6.7"])
def test_plain_http_to_loopback_is_fine(kps: responses.RequestsMock, host: str) -> None:
    kps.get(f"http://{host}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET"})
    assert run("get", "t1", "--endpoint", f"http://{host}").exit_code == 0


def test_plain_http_elsewhere_needs_allow_http(kps: responses.RequestsMock) -> None:
    kps.get(f"http://10.0.0.5/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET"})
    refused = run("get", "t1", "--endpoint", "http://10.0.0.5")
    assert refused.exit_code == 2
    assert "clear text" in refused.stderr and "--allow-http" in refused.stderr
    assert len(kps.calls) == 0
    assert run("get", "t1", "--endpoint", "http://10.0.0.5", "--allow-http").exit_code == 0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.example.com",
        "kms.example.com",
        "https://",
        "https://u:p@x.example.com",
        "https://x.example.com?a=1",
        "https://x.example.com:99999",
        "http://[::1",
        "https://exa mple.com",
        "https://" + "a" * 300 + ".com",
        "https://-bad.example.com",
    ],
)
def test_bad_endpoint_is_usage_error(url: str) -> None:
    result = run("get", "t1", "--endpoint", url)
    assert result.exit_code == 2
    assert result.stderr.startswith("kpstask: error: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("KPSTASK_PROJECT_ID", "a" * 32),
        ("HUAWEICLOUD_SDK_PROJECT_ID", "b" * 32),
        ("HW_PROJECT_ID", "C" * 32),
    ],
)
def test_project_from_environment(kps: responses.RequestsMock, env: str, value: str) -> None:
    kps.get(task_url("t1", project=value), json={"task_id": "t1", "task_status": "SUCCESS_RESET"})
    assert run("get", "t1", env={"KPSTASK_PROJECT_ID": None, env: value}).exit_code == 0  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("value", "words"), [("abc", "got 3 characters"), ("g" * 32, "not hexadecimal"), ("", "got 0")]
)
def test_bad_project_id(value: str, words: str) -> None:
    result = run("get", "t1", "-p", value)
    assert result.exit_code == 2
    assert words in result.stderr and "32 hexadecimal" in result.stderr


def test_project_id_value_is_not_echoed() -> None:
    result = run("get", "t1", env={"KPSTASK_PROJECT_ID": CANARY})
    assert result.exit_code == 2


def test_missing_project() -> None:
    result = run("get", "t1", env={"KPSTASK_PROJECT_ID": None})  # type: ignore[dict-item]
    assert result.exit_code == 2
    assert result.stderr.startswith("kpstask: error: no project id given\n")
    assert "--project-id or KPSTASK_PROJECT_ID" in result.stderr and "kpstask config show --help" in result.stderr


# -- task ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", ["a/b", "..", "a b", "a\x1bb", "a%2f", "", "x" * 65, "ü", "a\nb", "a?b", "a#b"])
def test_bad_task_ids_are_rejected_before_any_request(kps: responses.RequestsMock, task_id: str) -> None:
    result = run("get", "good", task_id)
    assert result.exit_code == 2
    assert result.stderr.startswith("kpstask: error: invalid task id")
    assert "\x1b" not in result.stderr and result.stderr.count("\n") == 1
    assert len(kps.calls) == 0


@pytest.mark.parametrize("task_id", ["a", "x" * 64, "aee8d2fe-5484-4753-9177-5a38dc15546c", "A_b-9"])
def test_good_task_ids(kps: responses.RequestsMock, task_id: str) -> None:
    add_task(kps, task_id, "SUCCESS_RESET")
    assert run("get", task_id).exit_code == 0
