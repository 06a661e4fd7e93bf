"""Where requests go: region, endpoint and project, from flags or the environment.

Every resolved value remembers where it came from, so errors and `--debug`
can say so.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from kpstask.errors import UsageError

if TYPE_CHECKING:
    from kpstask.config import Profile

REGION_ENV = ("KPSTASK_REGION", "HW_REGION_NAME", "OS_REGION_NAME")
ENDPOINT_ENV = ("KPSTASK_ENDPOINT",)
PROJECT_ENV = ("KPSTASK_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID", "HW_PROJECT_ID")
IAM_ENV = ("HUAWEICLOUD_SDK_IAM_ENDPOINT",)

# The official SDK's KpsRegion table, plus the European region on its own domain.
KNOWN_REGIONS: tuple[str, ...] = (
    "af-north-1", "af-south-1",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "cn-east-2", "cn-east-3", "cn-east-4", "cn-east-5",
    "cn-north-1", "cn-north-2", "cn-north-4", "cn-north-9", "cn-north-11", "cn-north-12",
    "cn-south-1", "cn-south-2", "cn-south-4", "cn-southwest-2", "cn-southwest-3",
    "eu-west-101",
    "la-north-2", "la-south-2", "me-east-1", "my-kualalumpur-1", "na-mexico-1",
    "ru-moscow-1", "sa-brazil-1", "tr-west-1",
)  # fmt: skip

_REGION_RE = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")
_HOST_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_PROJECT_RE = re.compile(r"[0-9a-fA-F]{32}")


class Sourced(NamedTuple):
    """A setting's value and where it came from (`--region`, `env KPSTASK_REGION`)."""

    value: str
    source: str


def pick(
    flag: str | None,
    flag_name: str,
    env: Mapping[str, str],
    names: tuple[str, ...],
    *,
    profile: Profile | None = None,
    key: str = "",
) -> Sourced | None:
    """The flag if given, else the first environment variable that is set, else the profile."""
    if flag is not None:
        return Sourced(flag, flag_name)
    for name in names:
        if name in env:
            return Sourced(env[name], f"environment variable {name}")
    if profile is not None and key in profile.values:
        return Sourced(profile.values[key], profile.source(key))
    return None


def region_url(region: Sourced, warn: Callable[[str], None]) -> str:
    """`https://kms.{region}.myhuaweicloud.com`, or `.eu` for the European regions."""
    value = region.value.strip()
    if not _REGION_RE.fullmatch(value) or len(value) > 40:
        raise UsageError(
            f"invalid region {value[:40]!a} (from {region.source})",
            hint="a region id looks like cn-north-4 or ap-southeast-1",
        )
    if value not in KNOWN_REGIONS:
        warn(f"region {value} is not in kpstask's table; trying it anyway")
    # The Terraform provider puts every eu-west-1xx region on the .eu domain.
    domain = "myhuaweicloud.eu" if value.startswith("eu-west-1") else "myhuaweicloud.com"
    return f"https://kms.{value}.{domain}"


def _valid_host(host: str) -> bool:
    """A DNS name of 63-character labels (253 in all), or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL_RE.fullmatch(label) for label in labels)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_url(endpoint: Sourced, allow_http: bool) -> str:
    """Check an endpoint URL and return it without a trailing slash."""
    value = endpoint.value.strip()
    where = f"(from {endpoint.source})"
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"invalid endpoint URL {where}") from None
    if parts.scheme not in ("http", "https") or not host or not _valid_host(host):
        raise UsageError(
            f"invalid endpoint URL {value[:80]!a} {where}",
            hint="give a full URL such as https://kms.cn-north-4.myhuaweicloud.com",
        )
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"the endpoint URL must not contain a user name or password {where}")
    if parts.query or parts.fragment:
        raise UsageError(f"the endpoint URL must not have a query or fragment {where}")
    if parts.scheme == "http" and not allow_http and not is_loopback(host):
        raise UsageError(
            f"refusing plain http:// to {host}: credentials would travel in clear text {where}",
            hint="use https://, or pass --allow-http if you really mean it",
        )
    return value.rstrip("/")


def base_url(
    region: Sourced | None,
    endpoint: Sourced | None,
    allow_http: bool,
    warn: Callable[[str], None],
) -> Sourced:
    """The base URL and where it came from. A flag wins over the environment and
    the profile, then the endpoint over the region; neither is a usage error."""
    if endpoint is not None and (region is None or _layer(endpoint.source) <= _layer(region.source)):
        return Sourced(endpoint_url(endpoint, allow_http), endpoint.source)
    if region is not None:
        return Sourced(region_url(region, warn), region.source)
    raise UsageError(
        "no region or endpoint given",
        hint="pass --region cn-north-4 (or set KPSTASK_REGION, HW_REGION_NAME or OS_REGION_NAME), "
        "or --endpoint URL (or KPSTASK_ENDPOINT), or put region in a profile",
    )


def _layer(source: str) -> int:
    """0 for a flag, 1 for the environment, 2 for the profile."""
    return 0 if source.startswith("--") else 1 if source.startswith("environment") else 2


def project_id(project: Sourced | None) -> str:
    """A project id is 32 hexadecimal characters."""
    if project is None:
        raise UsageError(
            "no project id given",
            hint="pass --project-id (or set KPSTASK_PROJECT_ID, HUAWEICLOUD_SDK_PROJECT_ID or HW_PROJECT_ID)",
        )
    value = project.value.strip()
    if _PROJECT_RE.fullmatch(value):
        return value
    # Not echoed: a secret pasted into the wrong variable must not reach the log.
    what = f"{len(value)} characters" if len(value) != 32 else "characters that are not hexadecimal"
    raise UsageError(
        f"invalid project id from {project.source}: got {what}",
        hint="a project id is 32 hexadecimal characters (console: My Credentials > Projects)",
    )


def iam_url(region: str | None) -> str:
    """Regional IAM for a region (the `.eu` domain for eu-west-1xx), else the global one."""
    if not region:
        return "https://iam.myhuaweicloud.com"
    value = region.strip()
    domain = "myhuaweicloud.eu" if value.startswith("eu-west-1") else "myhuaweicloud.com"
    return f"https://iam.{value}.{domain}"
