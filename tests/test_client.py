"""The HTTP client on its own: retries, backoff, Retry-After, bodies, errors."""

from __future__ import annotations

import pytest
import requests
import responses

from kpstask.api.answers import retry_after
from kpstask.api.client import KpsClient
from kpstask.api.policy import Interval
from kpstask.api.transport import MAX_BODY_BYTES, Transport
from kpstask.auth.credentials import TokenAuth
from kpstask.errors import ApiError, AuthError, NetworkError, NotFoundError
from kpstask.settings import BY_NAME, FLAG, Found
from tests.conftest import CANARY, ENDPOINT, PROJECT, SERVER, task_url


def make_client(waits: list[float], retries: int = 3) -> KpsClient:
    transport = Transport(ENDPOINT, retry=Interval.exponential(retries=retries), sleep=waits.append, rand=lambda: 0.5)
    return KpsClient(transport, PROJECT, TokenAuth(CANARY, Found(BY_NAME["token"], CANARY, "--token", FLAG)))


OK = {"task_id": "t1", "task_status": "RUNNING_RESET", "server_id": SERVER}


def test_429_honours_retry_after(kps: responses.RequestsMock) -> None:
    waits: list[float] = []
    kps.get(
        task_url("t1"),
        status=429,
        json={"error_code": "APIGW.0308", "error_msg": "throttled"},
        headers={"Retry-After": "7"},
    )
    kps.get(task_url("t1"), json=OK)
    task = make_client(waits).get_task("t1")
    assert task.task_status == "RUNNING_RESET"
    assert waits == [7.0]


def test_retry_after_is_capped(kps: responses.RequestsMock) -> None:
    waits: list[float] = []
    kps.get(task_url("t1"), status=503, headers={"Retry-After": "86400"})
    kps.get(task_url("t1"), json=OK)
    make_client(waits).get_task("t1")
    assert waits == [30.0]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_with_growing_backoff(kps: responses.RequestsMock, status: int) -> None:
    waits: list[float] = []
    for _ in range(3):
        kps.get(task_url("t1"), status=status, body="")
    kps.get(task_url("t1"), json=OK)
    make_client(waits).get_task("t1")
    # base 0.5 s doubling, half fixed and half jitter (rand() = 0.5 here)
    assert waits == [0.375, 0.75, 1.5]


def test_backoff_is_jittered_and_capped() -> None:
    policy = Interval.exponential(base_s=0.5, cap_s=8.0, retries=10)
    assert policy(0, lambda: 0.0) == 0.25
    assert policy(0, lambda: 1.0) == 0.5
    assert policy(10, lambda: 1.0) == 8.0
    assert policy(10, lambda: 0.0) == 4.0


def test_retries_run_out(kps: responses.RequestsMock) -> None:
    waits: list[float] = []
    kps.get(task_url("t1"), status=429, json={"error_code": "APIGW.0308", "error_msg": "throttled"})
    with pytest.raises(ApiError, match="throttled") as info:
        make_client(waits, retries=2).get_task("t1")
    assert len(kps.calls) == 3 and len(waits) == 2
    assert info.value.http_status == 429


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_the_transient_statuses_are_retried(kps: responses.RequestsMock, status: int) -> None:
    """One table (policy.TRANSIENT_STATUSES) for the transport and the wait: a 500 is retried too."""
    kps.get(task_url("t1"), status=status, json={"error_code": "KPS.0003", "error_msg": "busy"})
    with pytest.raises(ApiError):
        make_client([], retries=2).get_task("t1")
    assert len(kps.calls) == 3


@pytest.mark.parametrize("status", [501, 505, 400, 401, 403, 404])
def test_other_statuses_are_not_retried(kps: responses.RequestsMock, status: int) -> None:
    kps.get(task_url("t1"), status=status, json={"error_code": "X.1", "error_msg": "no"})
    with pytest.raises((ApiError, AuthError, NotFoundError)):
        make_client([]).get_task("t1")
    assert len(kps.calls) == 1


def test_connection_errors_are_retried_then_network_error(kps: responses.RequestsMock) -> None:
    waits: list[float] = []
    kps.get(task_url("t1"), body=requests.ConnectionError("Connection refused"))
    with pytest.raises(NetworkError):
        make_client(waits, retries=3).get_task("t1")
    assert len(kps.calls) == 4 and len(waits) == 3


def test_connection_error_then_success(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), body=requests.ConnectionError("reset"))
    kps.get(task_url("t1"), json=OK)
    assert make_client([]).get_task("t1").state.value == "pending"


def test_body_read_is_bounded(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), body=b"x" * (MAX_BODY_BYTES * 3))
    with pytest.raises(ApiError, match="larger than 1 MiB"):
        make_client([]).get_task("t1")


def test_error_with_oversized_body_keeps_its_status(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), status=401, body=b"x" * (MAX_BODY_BYTES + 10))
    with pytest.raises(AuthError):
        make_client([]).get_task("t1")


def test_iam_error_body_is_understood(kps: responses.RequestsMock) -> None:
    body = {"error": {"code": "401", "message": "The request requires authentication.", "title": "Unauthorized"}}
    kps.get(task_url("t1"), status=401, json=body)
    with pytest.raises(AuthError, match="requires authentication"):
        make_client([]).get_task("t1")


def test_request_id_from_gateway_body_when_header_missing(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), status=401, json={"error_code": "APIGW.0301", "error_msg": "bad", "request_id": "gw-9"})
    with pytest.raises(AuthError) as info:
        make_client([]).get_task("t1")
    assert info.value.request_id == "gw-9"


def test_task_id_is_quoted_into_the_path(kps: responses.RequestsMock) -> None:
    kps.get(task_url("a-b_c"), json={"task_status": "SUCCESS_RESET"})
    task = make_client([]).get_task("a-b_c")
    assert task.task_id == "a-b_c"  # missing from the body: the requested id is used
    assert task.server_id is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("5", 5.0), ("0", 0.0), ("9999", 30.0), ("soon", None), ("0.5", 0.5), ("-1", None)],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert retry_after(value) == expected


def test_retry_after_http_date() -> None:
    assert retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0


@pytest.mark.parametrize(("status", "transient"), [(429, True), (500, True), (503, True), (501, False), (400, False)])
def test_one_table_of_transient_answers(status: int, transient: bool) -> None:
    """What the transport retries is what a wait asks again: the same table."""
    from kpstask.api.policy import TRANSIENT_STATUSES, Action, for_wait

    assert (status in TRANSIENT_STATUSES) is transient
    error = ApiError("x", http_status=status)
    assert (for_wait(error) is Action.RETRY) is transient
