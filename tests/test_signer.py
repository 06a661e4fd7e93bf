"""AK/SK signing, byte for byte against the official SDK's Signer (a test-only dependency)."""

from __future__ import annotations

import string

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kpstask.auth import signer

AK, SK = "HPUAL0EXAMPLEAK12345", "sk-EXAMPLE-secret-0123456789abcdefghij"
HOST = "kms.cn-north-4.myhuaweicloud.com"
DATE = "20261128T101500Z"


def sdk_authorization(
    method: str,
    path: str,
    query: list[tuple[str, object]],
    headers: dict[str, str],
    body: str,
    ak: str = AK,
    sk: str = SK,
) -> tuple[str, dict[str, str]]:
    request = SdkRequest(
        method=method,
        schema="https",
        host=HOST,
        resource_path=path,
        query_params=[(k, list(v) if isinstance(v, list) else v) for k, v in query],
        header_params=dict(headers),
        body=body,
    )
    Signer(BasicCredentials(ak, sk)).sign(request)
    return request.header_params["Authorization"], request.header_params


def ours(
    method: str,
    path: str,
    query: list[tuple[str, object]],
    headers: dict[str, str],
    body: str,
    ak: str = AK,
    sk: str = SK,
) -> dict[str, str]:
    return signer.sign(ak, sk, method=method, path=path, query=query, headers=headers, body=body.encode())


BASE = {"X-Sdk-Date": DATE, "Host": HOST}


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body"),
    [
        ("GET", "/v3/0123456789abcdef0123456789abcdef/tasks/aee8d2fe-5484", [], {"X-Project-Id": "0123"}, ""),
        ("GET", "/v3/p/running-tasks", [("limit", 10), ("offset", 0)], {}, ""),
        ("DELETE", "/v3/p/failed-tasks/t1", [], {"X-Security-Token": "tmp-token"}, ""),
        ("POST", "/v3/auth/tokens", [], {"Content-Type": "application/json;charset=utf8"}, '{"auth": {}}'),
        ("POST", "/v3/upload", [], {"Content-Type": "application/octet-stream"}, "raw bytes"),
        ("GET", "/v3/p/tasks/a b/c%2Fd/ü~", [("q", "a b&c"), ("flag", True), ("multi", ["z", "a"])], {}, ""),
        ("GET", "/v3/p/tasks/x/", [], {"X-Custom_Underscore": "not signed", "X-Spaces": "  padded  "}, ""),
        ("put", "/", [("b", "2"), ("a", "1"), ("a", "0")], {"Content-Type": "application/json"}, "{}"),
    ],
)
def test_fixed_cases_match_the_sdk(
    method: str, path: str, query: list[tuple[str, object]], headers: dict[str, str], body: str
) -> None:
    expected, sdk_headers = sdk_authorization(method, path, query, {**BASE, **headers}, body)
    got = ours(method, path, query, {**BASE, **headers}, body)
    assert got["Authorization"] == expected
    assert got.get("X-Sdk-Content-Sha256") == sdk_headers.get("X-Sdk-Content-Sha256")


segment = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="/"), max_size=12)
paths = st.lists(segment, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))
keys = st.text(alphabet=string.ascii_letters + string.digits + "-_.~ %&=", min_size=1, max_size=8)
values = st.one_of(st.text(max_size=10).filter(lambda v: "\x00" not in v), st.integers(0, 10**6), st.booleans())
header_names = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=12).filter(
    lambda name: name.lower() not in {"host", "x-sdk-date", "authorization", "content-type", "x-sdk-content-sha256"}
)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=paths,
    query=st.lists(st.tuples(keys, values), max_size=5, unique_by=lambda kv: kv[0]),
    headers=st.dictionaries(header_names, header_values, max_size=5),
    body=st.text(max_size=40),
    secret=st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=40),
)
def test_any_request_matches_the_sdk(
    method: str, path: str, query: list[tuple[str, object]], headers: dict[str, str], body: str, secret: str
) -> None:
    unique_headers = dict(headers)
    lower = [name.lower() for name in unique_headers]
    assume(len(set(lower)) == len(lower))  # one header twice in different case: HTTP merges them
    expected, _ = sdk_authorization(method, path, query, {**BASE, **unique_headers}, body, sk=secret)
    assert ours(method, path, query, {**BASE, **unique_headers}, body, sk=secret)["Authorization"] == expected


def test_parse_authorization() -> None:
    value = ours("GET", "/v3/p/tasks/t", [], dict(BASE), "")["Authorization"]
    parts = signer.parse_authorization(value)
    assert parts is not None and parts["Access"] == AK and parts["SignedHeaders"] == "host;x-sdk-date"
    assert signer.parse_authorization("Bearer x") is None
    assert signer.parse_authorization("SDK-HMAC-SHA256 Access=a") is None


def test_metadata_keys_sign_as_the_sdk_does() -> None:
    """Temporary keys from the ECS metadata service: every header kpstask sends, against the
    SDK's signature over the same AK/SK, security token, project and date."""
    from datetime import datetime, timezone

    from kpstask.auth.credentials import KeysAuth
    from kpstask.auth.renewal import Renewing, TemporaryKeys

    keys = TemporaryKeys("SIMTMPEXAMPLE0000001", SK, "gQpzdGstc2lt" + "ab" * 50, 4e9)
    renewing = Renewing(lambda fresh: keys, on_keys=lambda got: None, debug=lambda line: None, what="metadata keys")
    when = datetime(2026, 11, 28, 10, 15, tzinfo=timezone.utc)
    auth = KeysAuth(
        "metadata", renewing, parts=(), why="ECS metadata", project_id="0" * 32, extra_rows=[], now=lambda: when
    )
    sent = auth.headers("GET", HOST, "/v3/" + "0" * 32 + "/running-tasks", [("limit", 1000), ("offset", 0)])
    sdk_headers = {"X-Sdk-Date": DATE, "Host": HOST, "X-Project-Id": "0" * 32, "X-Security-Token": keys.security_token}
    expected, signed = sdk_authorization(
        "GET",
        "/v3/" + "0" * 32 + "/running-tasks",
        [("limit", 1000), ("offset", 0)],
        sdk_headers,
        "",
        ak=keys.access,
        sk=keys.secret,
    )
    assert sent == {**sdk_headers, "Authorization": expected}
    assert signed["Authorization"] == expected
