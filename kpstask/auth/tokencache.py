"""The token cache's files: written atomically, mode 0600, in directories made 0700; read
only when they are small regular files of the user's holding a clean token and a finite
expiry. Nothing in them is trusted; `Unusable` says why an entry is ignored, never quoting it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kpstask.errors import UsageError
from kpstask.i18n import N_, _
from kpstask.settings.endpoints import Checks, check_secret

MAX_CACHE_BYTES = 64 * 1024


def clean_token(value: object) -> str | None:
    """A token as any other secret is taken (one line of printable ASCII, not empty), else None."""
    if not isinstance(value, str):
        return None
    try:
        return check_secret(value, "token", "IAM", Checks())
    except UsageError:
        return None


class Unusable(Exception):
    """Internal: why a cache entry is ignored, in words that never quote its content."""


def directory_problem(path: Path) -> str | None:
    """Why `path` cannot hold tokens (None when it is fine, or absent): not followed if a link."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _("cannot be checked ({value})").format(value=exc.strerror or exc)
    if stat.S_ISLNK(info.st_mode):
        return _("is a symbolic link")
    if not stat.S_ISDIR(info.st_mode):
        return _("is not a directory")
    if info.st_uid != os.getuid():
        return _("belongs to another user")
    if info.st_mode & 0o022:
        return _("is writable by others (mode {mode:o})").format(mode=stat.S_IMODE(info.st_mode))
    return None


class Voice:
    """How the cache's troubles are told: an unsafe directory once, as a warning (it can be an
    attack); anything else in --debug."""

    def __init__(self, warn: Callable[[str], None], debug: Callable[[str], None]) -> None:
        self.warn = warn
        self.debug = debug
        self.warned = False

    def __call__(self, text: str) -> None:
        if not text.startswith(_(UNSAFE)):
            self.debug(text)
        elif not self.warned:
            self.warned = True
            self.warn(text)


UNSAFE = N_("not using the token cache")


def safe_directories(entry: Path, create: bool, say: Callable[[str], None]) -> bool:
    """Whether the directories of `entry` (`kpstask` and `kpstask/tokens`) are the user's
    alone; made (0700) first when `create`. `say` hears why not (a warning: it can be an attack)."""
    for directory in (entry.parent.parent, entry.parent):
        try:
            if create:
                directory.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    directory.mkdir(mode=0o700)
        except OSError as exc:
            say(
                _("could not make the token cache directory {directory}: {value}").format(
                    directory=directory, value=exc.strerror or exc
                )
            )
            return False
        problem = directory_problem(directory)
        if problem is not None:
            say(
                _("{UNSAFE}: {directory} {problem} (it must be yours alone, mode 700)").format(
                    UNSAFE=_(UNSAFE), directory=directory, problem=problem
                )
            )
            return False
    return True


def read_object(path: Path) -> dict[str, Any] | None:
    """A cache entry's JSON object; None when there is none. Links are not followed, a FIFO
    does not block, and only a small regular file of the user's is read."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unusable(_("is a symbolic link") if exc.errno == errno.ELOOP else _("cannot be opened")) from None
    try:
        with os.fdopen(handle, "rb") as source:
            info = os.fstat(source.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise Unusable(_("is not a regular file"))
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                raise Unusable(_("belongs to another user or is writable by others"))
            if info.st_size > MAX_CACHE_BYTES:
                raise Unusable(_("is too large"))
            data = source.read(MAX_CACHE_BYTES + 1)
    except OSError:
        raise Unusable(_("cannot be read")) from None
    if len(data) > MAX_CACHE_BYTES:
        raise Unusable(_("is too large"))
    try:
        entry = json.loads(data)
    except (ValueError, RecursionError):
        raise Unusable(_("is not valid JSON")) from None
    if not isinstance(entry, dict):
        raise Unusable(_("is not a JSON object"))
    return entry


def read_entry(path: Path) -> tuple[str, float] | None:
    """(token, expiry) of a cache entry; None when there is none."""
    entry = read_object(path)
    if entry is None:
        return None
    token = clean_token(entry.get("token"))
    if token is None:
        raise Unusable(_("holds no usable token"))
    return token, expiry(entry)


def expiry(entry: dict[str, Any]) -> float:
    """An entry's `expires_at`: a finite number of seconds."""
    expires = entry.get("expires_at")
    if isinstance(expires, bool) or not isinstance(expires, (int, float)) or not _finite(expires):
        raise Unusable(_("holds no usable expiry"))
    return float(expires)


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer of 400 digits
        return False


def write_atomically(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".token-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:  # mkstemp creates it 0600
            out.write(text)
        os.replace(temp, path)  # replaces a link or FIFO in the way, never writes through it
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
