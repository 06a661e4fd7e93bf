"""The one renewal rule every fetched credential follows, on a fake wall clock."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from kpstask.auth.renewal import Renewing, TemporaryKeys, margin, read_keys
from kpstask.errors import ApiError, AuthError, NetworkError

NOW = 1_800_000_000.0


def test_the_margin_is_the_sdks_40_minutes_or_a_tenth_of_the_lifetime() -> None:
    assert margin(86400) == 2400
    assert margin(900) == 90
    assert margin(-5) == 0


@pytest.mark.parametrize(
    "answer",
    [
        {
            "credential": {
                "access": "A",
                "secret": "S",
                "securitytoken": "T",
                "expires_at": "2028-01-15T08:00:00.000000Z",
            }
        },
        {
            "credentials": {
                "access_key_id": "A",
                "secret_access_key": "S",
                "security_token": "T",
                "expiration": "2028-01-15T08:00:00Z",
            }
        },
        {
            "credential": {
                "accessKeyId": "A",
                "secretAccessKey": "S",
                "securityToken": "T",
                "expires_at": "2028-01-15T08:00:00",
            }
        },
    ],
)
def test_every_shape_the_sdk_reads(answer: dict[str, object]) -> None:
    keys = read_keys(answer, "STS", NOW)
    assert keys[:3] == ("A", "S", "T")
    assert keys.expires_at == datetime(2028, 1, 15, 8, tzinfo=timezone.utc).timestamp()
    assert repr(keys) == f"TemporaryKeys(expires_at={keys.expires_at})"  # never the values


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ([], ApiError),
        ({"credential": "x"}, ApiError),
        (
            {"credential": {"access": "A", "secret": "S", "securitytoken": "T", "expires_at": "2001-01-01T00:00:00Z"}},
            AuthError,
        ),
        ({"credential": {"access": "A", "secret": "S", "securitytoken": "T", "expires_at": "9" * 30}}, ApiError),
    ],
)
def test_wrong_shapes(answer: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_keys(answer, "STS", NOW)


class Service:
    """Hands out keys that last `ttl` seconds; can be made to fail."""

    def __init__(self, clock: list[float], ttl: float = 900) -> None:
        self.clock = clock
        self.ttl = ttl
        self.calls = 0
        self.failing: Exception | None = None

    def fetch(self, fresh: bool) -> TemporaryKeys:
        self.calls += 1
        if self.failing is not None:
            raise self.failing
        return TemporaryKeys(f"AK{self.calls}", "SK", "ST", self.clock[0] + self.ttl)


def renewing(service: Service, clock: list[float]) -> Renewing:
    return Renewing(
        service.fetch, on_keys=lambda keys: None, debug=lambda line: None, what="keys", wall=lambda: clock[0]
    )


def test_renewed_ahead_of_their_end_not_at_every_request() -> None:
    clock = [NOW]
    service = Service(clock)
    keys = renewing(service, clock)
    assert keys.current().access == "AK1"
    clock[0] += 800  # 100 s left: more than the 90 s margin
    assert keys.current().access == "AK1" and service.calls == 1
    clock[0] += 15
    assert keys.current().access == "AK2" and service.calls == 2


def test_a_failed_renewal_keeps_keys_that_still_work() -> None:
    clock = [NOW]
    service = Service(clock)
    keys = renewing(service, clock)
    keys.current()
    service.failing = NetworkError("no answer")
    clock[0] += 850
    assert keys.current().access == "AK1" and service.calls == 2
    assert keys.current().access == "AK1" and service.calls == 2  # not again at once
    clock[0] += 60  # past the end
    with pytest.raises(NetworkError):
        keys.current()


def test_refused_keys_are_renewed_only_if_they_had_worked() -> None:
    clock = [NOW]
    service = Service(clock)
    keys = renewing(service, clock)
    keys.current()
    assert keys.renew() is False  # fresh keys refused: renewing would loop
    keys.confirm()
    assert keys.renew() is True and keys.current().access == "AK2"
    assert keys.renew() is False  # the new ones have not worked yet


def test_threads_share_one_renewal() -> None:
    clock = [NOW]
    service = Service(clock, ttl=86400)
    keys = renewing(service, clock)
    keys.current()
    keys.confirm()
    barrier = threading.Barrier(8)
    outcomes: list[bool] = []

    def refused() -> None:
        keys.current()
        barrier.wait()
        outcomes.append(keys.renew())

    threads = [threading.Thread(target=refused) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert outcomes == [True] * 8 and service.calls == 2


def test_sts_is_the_regions_where_the_sdk_knows_one() -> None:
    from kpstask.settings.endpoints import sts_url

    assert sts_url("ap-southeast-1") == "https://sts.ap-southeast-1.myhuaweicloud.com"
    assert sts_url("cn-north-9") == sts_url(None) == "https://sts.cn-north-4.myhuaweicloud.com"
