"""Checks on scenario values, at load and for what the control surface adds at run time.

Ids, project ids and tokens follow the client's own rules (`validate_task_id`,
`check_project`, `check_secret`); no other string may hold a control character,
so nothing can break a line `kpstask simulate` prints; numbers are bounded and
finite. Every refusal is a `UsageError` naming the scenario key, never a secret.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from kpstask.errors import UsageError
from kpstask.models import validate_task_id
from kpstask.settings.endpoints import Checks, check_project, check_secret

MAX_FAULT_SECONDS = 3600  # a latency fault's `seconds` and a `retry_after`
MAX_DURATION_S = 1_000_000_000  # ready_s, running_s, token_ttl_s (about 31 years)
MAX_COUNT = 1_000_000_000  # a fault's `after` and `times`
MAX_STATUSES = 1000  # entries of a `statuses` list


def fail(where: str, problem: str) -> UsageError:
    return UsageError(f"scenario: {where}: {problem}")


def typed(spec: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any) -> Any:
    """`spec[key]` if it has the type, else the default; a wrong type is a usage error."""
    value = spec.get(key, default)
    if value is default:
        return value
    # bool is an int in Python; a scenario saying `"seconds": true` is a mistake.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise fail(where, f"{key} has the wrong type")
    if not isinstance(value, kind):
        raise fail(where, f"{key} has the wrong type")
    return value


def check_keys(spec: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise fail(where, "must be an object")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        shown = ", ".join(ascii(str(key)[:40])[1:-1] for key in unknown)  # escaped: keys are not checked
        raise fail(where, f"unknown key(s) {shown}; allowed: {', '.join(sorted(allowed))}")
    return spec


def has_control(text: str) -> bool:
    """C0 and C1 control characters (newline, carriage return, escape...) and the Unicode line breaks."""
    return any(unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029" for ch in text)


def text(spec: Mapping[str, Any], key: str, where: str, default: Any) -> Any:
    """A string that cannot break a line of output."""
    value = typed(spec, key, str, where, default)
    if isinstance(value, str) and has_control(value):
        raise fail(where, f"{key} contains control characters")
    return value


def nullable_text(spec: Mapping[str, Any], key: str, where: str, default: str) -> str | None:
    """As `text`, but JSON null is a value (the API sends null too); TOML has no null: there, ""."""
    if key in spec and spec[key] is None:
        return None
    return str(text(spec, key, where, default)) or None


def number(spec: Mapping[str, Any], key: str, where: str, default: float | None, high: float) -> float | None:
    """A finite number from 0 to `high` (nan, inf and 1e300 are refused), as a float."""
    value = typed(spec, key, (int, float), where, default)
    if value is None:
        return None
    if value < 0:
        raise fail(where, f"{key} cannot be negative")
    if not value <= high:  # also false for nan; compared before float() so a huge int cannot overflow
        raise fail(where, f"{key} must be between 0 and {high:g}")
    return float(value)


def count(spec: Mapping[str, Any], key: str, where: str, default: int | None) -> int | None:
    """A whole number from 0 to MAX_COUNT."""
    value = typed(spec, key, int, where, default)
    if value is None:
        return None
    if value < 0:
        raise fail(where, f"{key} cannot be negative")
    if value > MAX_COUNT:
        raise fail(where, f"{key} must be at most {MAX_COUNT}")
    return int(value)


def quota(spec: Mapping[str, Any], where: str) -> int | None:
    """Requests per second, as the gateway counts them: a whole number from 1 to MAX_COUNT (10.0 is 10)."""
    value = typed(spec, "quota", (int, float), where, None)
    if value is None:
        return None
    if not 1 <= value <= MAX_COUNT or value != int(value):  # the range first: nan and inf fail it
        raise fail(where, f"quota must be a whole number of requests per second, from 1 to {MAX_COUNT}")
    return int(value)


def statuses(spec: Mapping[str, Any], where: str) -> list[int]:
    """`status` (one code) or `statuses` (a list): HTTP codes from 100 to 599."""
    found = list(typed(spec, "statuses", list, where, []))
    if "status" in spec:
        found = [typed(spec, "status", int, where, None)]
    if len(found) > MAX_STATUSES:
        raise fail(where, f"statuses can hold at most {MAX_STATUSES} codes")
    if any(isinstance(s, bool) or not isinstance(s, int) or not 100 <= s <= 599 for s in found):
        raise fail(where, "status codes must be integers from 100 to 599")
    return found


def task_id(value: Any, where: str) -> str:
    """The client's rule: 1-64 letters, digits, '-' or '_' (the refusal shows the value escaped)."""
    if not isinstance(value, str) or not value:
        raise fail(where, "id must be a non-empty string")
    try:
        return validate_task_id(value)
    except UsageError as exc:
        raise UsageError(f"scenario: {where}: id: {exc.message}", hint=exc.hint) from None


def project_id(value: str, where: str) -> str:
    """The client's rule: 32 hexadecimal characters (the refusal does not show the value)."""
    if check_project(value, "project id", "scenario key project_id", Checks()) != value:
        raise fail(where, "project_id has spaces or line breaks around it")
    return value


def token(value: str, where: str) -> str:
    """The client's rule for secrets: one line of printable ASCII (the refusal does not show it)."""
    if check_secret(value, "token", "scenario key token", Checks()) != value:
        raise fail(where, "token has spaces or line breaks around it")
    return value


def strings(spec: Any, where: str, required: set[str], optional: set[str]) -> dict[str, str]:
    """An access key or a user: non-empty strings without control characters (values never shown)."""
    spec = check_keys(spec, required | optional, where)
    missing = sorted(required - set(spec))
    if missing or not all(isinstance(value, str) and value for value in spec.values()):
        raise fail(where, f"needs non-empty strings {', '.join(sorted(required))}")
    for key in sorted(spec):
        text(spec, key, where, None)
    return dict(spec)
