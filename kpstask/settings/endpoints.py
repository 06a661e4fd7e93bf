"""Where requests go: the checks on region, endpoint and project values, and
the URLs they lead to. The settings table (`settings.py`) names these checks;
errors say where a bad value came from, never a secret.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

from kpstask.errors import UsageError, suggest, then
from kpstask.i18n import NAMES, _, language

# The official SDK's KpsRegion table, plus the European region on its own domain.
KNOWN_REGIONS: tuple[str, ...] = (
    "af-north-1",
    "af-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "cn-east-2",
    "cn-east-3",
    "cn-east-4",
    "cn-east-5",
    "cn-north-1",
    "cn-north-2",
    "cn-north-4",
    "cn-north-9",
    "cn-north-11",
    "cn-north-12",
    "cn-south-1",
    "cn-south-2",
    "cn-south-4",
    "cn-southwest-2",
    "cn-southwest-3",
    "eu-west-101",
    "la-north-2",
    "la-south-2",
    "me-east-1",
    "my-kualalumpur-1",
    "na-mexico-1",
    "ru-moscow-1",
    "sa-brazil-1",
    "tr-west-1",
)

_REGION_RE = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")
_HOST_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_PROJECT_RE = re.compile(r"[0-9a-fA-F]{32}")


class Checks(NamedTuple):
    """What a check may need beyond the value: the --allow-http switch and a way to warn.
    `doubt`, when set (`config show`), takes what would be a warning as a problem instead:
    a value that is used, but likely wrong (a region not in kpstask's table)."""

    allow_http: bool = False
    warn: Callable[[str], None] = lambda text: None
    doubt: Callable[[UsageError], None] | None = None


def check_region(value: str, label: str, source: str, checks: Checks) -> str:
    """A region id such as cn-north-4. One kpstask does not know is tried, with a warning (new
    regions open before kpstask's table knows them); a likely typo is named there, and again
    if the endpoint never answers (`unknown_region_hint`)."""
    value = value.strip()
    if not _REGION_RE.fullmatch(value) or len(value) > 40:
        # Echoed only when it is close to a region: otherwise it may be a secret in the wrong place.
        close = suggest(value[:40].lower().replace("_", "-"), KNOWN_REGIONS)
        if close:
            raise UsageError(
                _("invalid region {value} (from {source})").format(value=ascii(value), source=source),
                hint=_("did you mean {close}?").format(close=close),
            )
        raise UsageError(
            _("invalid region from {source}: {count} characters, not a region id").format(
                source=source, count=len(value)
            ),
            hint=_("a region id looks like cn-north-4"),
        )
    if value not in KNOWN_REGIONS:
        close = suggest(value, KNOWN_REGIONS)
        if checks.doubt is not None:
            tried = _("other commands try it, with a warning")
            newer = _("{tried} (it may be newer than kpstask)").format(tried=tried)
            hint = then(_("did you mean {close}?").format(close=close), tried) if close else newer
            doubt = _("region {value} is not in kpstask's table (from {source})").format(value=value, source=source)
            checks.doubt(UsageError(doubt, hint=hint))
        else:
            guess = _(" (did you mean {close}?)").format(close=close) if close else ""
            checks.warn(
                _("region {value} is not in kpstask's table{guess}; trying it anyway").format(value=value, guess=guess)
            )
    return value


def unknown_region_hint(region: str) -> str | None:
    """For an endpoint never reached: a region kpstask does not know may be a typo."""
    region = region.strip()
    if region in KNOWN_REGIONS:
        return None
    close = suggest(region, KNOWN_REGIONS)
    spelled = _("did you mean {close}?").format(close=close) if close else _("is it spelled right?")
    return _("region {region} is not in kpstask's table: {spelled}").format(region=region, spelled=spelled)


def _domain(region: str) -> str:
    # The Terraform provider puts every eu-west-1xx region on the .eu domain.
    return "myhuaweicloud.eu" if region.startswith("eu-west-1") else "myhuaweicloud.com"


def region_url(region: str) -> str:
    """`https://kms.{region}.myhuaweicloud.com`, or `.eu` for the European regions."""
    return f"https://kms.{region}.{_domain(region)}"


def iam_url(region: str | None) -> str:
    """Regional IAM for a region, else the global one."""
    return f"https://iam.{region}.{_domain(region)}" if region else "https://iam.myhuaweicloud.com"


# The regions the SDK knows an STS in (`huaweicloudsdkcore.auth.endpoint`); others use cn-north-4's.
STS_REGIONS = frozenset(
    {
        "cn-north-4",
        "cn-south-1",
        "cn-east-3",
        "cn-southwest-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "sa-brazil-1",
        "la-south-2",
        "af-south-1",
        "tr-west-1",
    }
)


def sts_url(region: str | None) -> str:
    """The region's STS where it has one, else the SDK's default (cn-north-4's)."""
    return f"https://sts.{region if region in STS_REGIONS else 'cn-north-4'}.myhuaweicloud.com"


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


def without_password(value: str) -> str:
    """A URL as it may be shown: `https://user:***@host`, never the password in it; a user
    name alone (`https://TOKEN@host`, as git takes a token) is masked too: `https://***@host`."""
    try:
        parts = urlsplit(value.strip())
        if parts.password is None and parts.username is None:
            return value.strip()
        host = parts.netloc.rpartition("@")[2]
        user = "***" if parts.password is None else f"{parts.username}:***"
        return parts._replace(netloc=f"{user}@{host}").geturl()
    except ValueError:
        return "(not a URL)"


def check_url(value: str, label: str, source: str, checks: Checks) -> str:
    """An endpoint URL, without its trailing slash."""
    value = value.strip()
    where = _("(from {source})").format(source=source)
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(_("invalid endpoint URL {where}").format(where=where)) from None
    if parts.username is not None or parts.password is not None:
        # Checked first, and the URL not echoed: it holds a password.
        raise UsageError(_("the endpoint URL must not contain a user name or password {where}").format(where=where))
    if parts.scheme not in ("http", "https") or not host or not _valid_host(host):
        raise UsageError(
            _("invalid endpoint URL {value} {where}").format(value=ascii(value[:80]), where=where),
            hint=_("give a full URL such as https://kms.cn-north-4.myhuaweicloud.com"),
        )
    if parts.query or parts.fragment:
        raise UsageError(_("the endpoint URL must not have a query or fragment {where}").format(where=where))
    if parts.scheme == "http" and not checks.allow_http and not is_loopback(host):
        raise UsageError(
            _("refusing plain http:// to {host}: credentials would travel in clear text {where}").format(
                host=host, where=where
            ),
            hint=_("use https://, or pass --allow-http if you really mean it"),
        )
    return value.rstrip("/")


def check_project(value: str, label: str, source: str, checks: Checks) -> str:
    """A project id is 32 hexadecimal characters."""
    value = value.strip()
    if _PROJECT_RE.fullmatch(value):
        return value
    # Not echoed: a secret pasted into the wrong variable must not reach the log.
    if len(value) != 32:
        what = _("{count} characters").format(count=len(value))
    else:
        what = _("characters that are not hexadecimal")
    raise UsageError(
        _("invalid project id from {source}: got {what}").format(source=source, what=what),
        hint=_("a project id is 32 hexadecimal characters (console: My Credentials > Projects)"),
    )


def check_secret(value: str, label: str, source: str, checks: Checks) -> str:
    """Strip surrounding whitespace; refuse what cannot go into an HTTP header."""
    value = value.strip()
    if not value:
        raise UsageError(_("the {label} from {source} is empty").format(label=_(label), source=source))
    if any(not (" " <= ch <= "~") for ch in value):
        raise UsageError(
            _("the {label} from {source} contains control or non-ASCII characters").format(
                label=_(label), source=source
            ),
            hint=_("a secret is one line of printable ASCII; check the file or variable holds only it"),
        )
    return value


def check_text(value: str, label: str, source: str, checks: Checks) -> str:
    """A plain value (a user or domain name): surrounding whitespace dropped."""
    return value.strip()


def _printable(value: str) -> bool:
    return all(" " <= ch <= "~" for ch in value)


def check_name(value: str, label: str, source: str, checks: Checks) -> str:
    """An identifier such as an identity provider's id or an agency URN: one line of printable
    ASCII. A bad one is not echoed: it may be a secret in the wrong place."""
    value = value.strip()
    if not value:
        raise UsageError(_("the {label} from {source} is empty").format(label=_(label), source=source))
    if not _printable(value) or len(value) > 512:
        raise UsageError(
            _("the {label} from {source} has control or non-ASCII characters, or is over 512 long").format(
                label=_(label), source=source
            ),
            hint=_("an {label} is one line of printable ASCII").format(label=_(label)),
        )
    return value


def check_path(value: str, label: str, source: str, checks: Checks) -> str:
    """A file's path: not empty, no control characters (it is shown in messages)."""
    if not value.strip():
        raise UsageError(_("the {label} from {source} is empty").format(label=_(label), source=source))
    if any(ch < " " or ch == "\x7f" for ch in value):
        raise UsageError(
            _("the {label} from {source} contains control characters").format(label=_(label), source=source)
        )
    return value


def check_metadata_url(value: str, label: str, source: str, checks: Checks) -> str:
    """The metadata service's URL: http:// is its nature (a link-local address, or a proxy
    on the node), and nothing secret travels to it."""
    return check_url(value, label, source, checks._replace(allow_http=True))


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def check_bool(value: str, label: str, source: str, checks: Checks) -> str:
    """`true`/`false` (also 1/0, yes/no, on/off), as `true` or `false`."""
    word = value.strip().lower()
    if word in _TRUE:
        return "true"
    if word in _FALSE:
        return "false"
    raise UsageError(
        _("the {label} from {source} must be true or false, not {value}").format(
            label=_(label), source=source, value=ascii(value.strip()[:20])
        )
    )


def _number(value: str, label: str, source: str, low: float, high: float) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        number = float("nan")
    if not low <= number <= high:  # NaN fails too
        raise UsageError(
            _("the {label} from {source} must be a number of seconds from {low:g} to {high:g}").format(
                label=_(label), source=source, low=low, high=high
            )
        )
    return number


def check_seconds(value: str, label: str, source: str, checks: Checks) -> str:
    """A timeout in seconds, 0.1 to 300."""
    return f"{_number(value, label, source, 0.1, 300.0):g}"


def check_duration(value: str, label: str, source: str, checks: Checks) -> str:
    """The lifetime asked of assume-with-oidc credentials: 900 to 43200 seconds, as STS allows."""
    return str(int(_number(value, label, source, 900, 43200)))


def check_language(value: str, label: str, source: str, checks: Checks | None) -> str:
    """`en` or `zh` for any spelling `--lang` accepts; a usage error listing the languages."""
    found = language(value)
    if found is None:
        raise UsageError(
            _("unknown language {value} (from {source})").format(value=repr(value.strip()), source=source),
            hint=_("languages: {names}").format(names=NAMES),
        )
    return found
