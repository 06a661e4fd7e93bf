"""The config file and its profiles: `$XDG_CONFIG_HOME/kpstask/config.toml` (or
`KPSTASK_CONFIG`), one table per profile. Secrets are never in it: it names the
files that hold them.

    [default]
    region = "cn-north-4"
    project_id = "0123456789abcdef0123456789abcdef"

    [ci]
    access_key = "HPUA..."
    secret_key_file = "~/.config/kpstask/ci.sk"
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpstask.errors import UsageError, suggest, then
from kpstask.i18n import _
from kpstask.settings import BY_NAME, FILE_KEYS, PROFILE_KEYS, SETTINGS, Profile

if TYPE_CHECKING:
    from kpstask.context import Run

CONFIG_ENV = BY_NAME["config"].env[0]
PROFILE_ENV = BY_NAME["profile"].env[0]
MAX_CONFIG_BYTES = 1024 * 1024


def config_path(env: Mapping[str, str]) -> Path:
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kpstask" / "config.toml"


def cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kpstask"


def toml() -> Any:
    """tomllib, or on Python 3.10 its original, tomli (a dependency there)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    return tomllib


def _load_toml(path: Path) -> dict[str, Any]:
    tomllib = toml()
    try:
        data: dict[str, Any] = tomllib.loads(_read_bounded(path).decode("utf-8"))
    except OSError as exc:
        raise UsageError(_("cannot read config {path}: {error}").format(path=path, error=exc.strerror or exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = _("nested too deeply") if isinstance(exc, RecursionError) else exc
        raise UsageError(_("config {path} is not valid TOML: {reason}").format(path=path, reason=reason)) from None
    return data


def _read_bounded(path: Path) -> bytes:
    """The file's bytes: a regular file (a FIFO would hang, /dev/zero never end), at most 1 MiB."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(_("config {path} is not a regular file").format(path=path))
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(_("config {path} is larger than 1 MiB: is it the right file?").format(path=path))
    return data


def profile_names(env: Mapping[str, str]) -> list[str]:
    """Profiles in the config file (for Tab completion); none when it is missing or broken."""
    try:
        path = config_path(env)
        return sorted(name for name, table in _load_toml(path).items() if isinstance(table, dict))
    except (UsageError, OSError):
        return []


def load_profile(chosen: str | None, env: Mapping[str, str]) -> Profile:
    """The profile `chosen` (by --profile or KPSTASK_PROFILE), else `default` (which may be absent)."""
    name = chosen or "default"
    explicit = bool(chosen)
    path = config_path(env)
    if not path.exists():
        if env.get(CONFIG_ENV):
            raise UsageError(_("{variable} names {path}, which does not exist").format(variable=CONFIG_ENV, path=path))
        if explicit:
            raise UsageError(
                _("profile {name} asked for, but there is no config file at {path}").format(name=repr(name), path=path)
            )
        return Profile(name, None, {})
    data = _load_toml(path)
    loose = sorted(key for key, value in data.items() if not isinstance(value, dict))
    if loose:
        raise UsageError(
            _("config {path}: {keys} must be inside a profile table such as [default]").format(
                path=path, keys=", ".join(loose)
            )
        )
    table = data.get(name)
    if table is None:
        if explicit:
            raise _no_profile(name, path, data)
        return Profile(name, path, {})
    return Profile(name, path, _profile_values(table, name, path))


def _no_profile(name: str, path: Path, data: dict[str, Any]) -> UsageError:
    """A profile asked for that the file does not have: the ones it has, a likely typo named."""
    known = ", ".join(sorted(data)) or _("none")
    close = suggest(name, data)
    there = _("profiles there: {names}").format(names=known)
    hint = then(_("did you mean {close}?").format(close=close), there) if close else there
    return UsageError(_("no profile {name} in {path}").format(name=repr(name), path=path), hint=hint)


def _profile_values(table: object, name: str, path: Path) -> dict[str, str]:
    """A profile's keys, checked (strings, known keys); the files of secrets expanded."""
    if not isinstance(table, dict):
        raise UsageError(_("config {path}: [{name}] must be a table").format(path=path, name=name))
    unknown = sorted(set(table) - set(PROFILE_KEYS))
    if unknown:
        raise UsageError(
            _("config {path}: profile {name} has unknown key(s) {keys}").format(
                path=path, name=name, keys=", ".join(unknown)
            ),
            hint=key_hint(unknown),
        )
    values = {}
    for key, value in table.items():
        if not isinstance(value, str):
            raise UsageError(_("config {path}: {name}.{key} must be a string").format(path=path, name=name, key=key))
        values[key] = str(Path(value).expanduser()) if key in FILE_KEYS else value
    return values


def key_hint(unknown: list[str]) -> str:
    """What each unknown key may have meant: `did you mean region (for regoin)?`; a secret's
    own name (`token`) gets its file key, for the config file names the files that hold
    secrets, never a secret. Then the known keys."""
    files = {s.name: s.profile_key for s in SETTINGS if s.secret and s.profile_key}
    several = len(unknown) > 1
    secrets = [(key, files[_normal(key)]) for key in unknown if _normal(key) in files]
    guesses = [(key, suggest(_normal(key), PROFILE_KEYS)) for key in unknown if _normal(key) not in files]
    named = [
        _("{close} (for {key})").format(close=close, key=key) if several else close for key, close in guesses if close
    ]
    parts = [_("did you mean {close}?").format(close=", ".join(named))] if named else []
    if secrets:
        where = ", ".join(
            f"{file} = PATH" + (_(" (for {key})").format(key=key) if several else "") for key, file in secrets
        )
        said = (
            _("a secret is not kept in the config file: put it in a file and set {where}")
            if len(secrets) == 1
            else _("secrets are not kept in the config file: put each in a file and set {where}")
        )
        parts.append(said.format(where=where))
    parts.append(_("known keys: {keys}").format(keys=", ".join(PROFILE_KEYS)))
    hint = parts[0]
    for part in parts[1:]:
        hint = then(hint, part)
    return hint


def _normal(key: str) -> str:
    """`Project-Id` as the keys are spelled: `project_id`."""
    return key.lower().replace("-", "_")


def read_secret_file(path: str, what: str, run: Run) -> str:
    """A secret from a file (`-`: stdin); a file others can read gets a warning, as ssh gives."""
    if path == "-":
        if run.stdin_isatty:
            raise UsageError(
                _("{what} -: standard input is a terminal").format(what=_(what)), hint=_("pipe the secret in")
            )
        return str(run.stdin.read(64 * 1024 + 1))
    try:
        mode = os.stat(path).st_mode
        with open(path, "rb") as handle:
            data = handle.read(64 * 1024 + 1)
    except OSError as exc:
        said = _("cannot read {what} {path}: {error}")
        raise UsageError(said.format(what=_(what), path=repr(path), error=exc.strerror or exc)) from None
    if mode & 0o077:
        said = _("{what} {path} is readable by others (mode {mode:o}); chmod 600 it")
        run.warn(said.format(what=_(what), path=path, mode=mode & 0o777))
    if len(data) > 64 * 1024:
        said = _("{what} {path} is larger than 64 KiB: is it the right file?")
        raise UsageError(said.format(what=_(what), path=repr(path)))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(_("{what} {path} is not a text file").format(what=_(what), path=repr(path))) from None
