"""The settings of one run, found and checked: each from its flag, else the environment,
else the profile (the settings table says where to look), and the places and the
transport every part that talks to a service is built with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kpstask.choices import Timing
from kpstask.errors import UsageError
from kpstask.i18n import N_, _
from kpstask.settings import (
    BY_NAME,
    DEFAULT,
    SETTINGS,
    Found,
    Profile,
    SettingsError,
    as_problem,
    config,
    find,
    looked_at,
)
from kpstask.settings.endpoints import Checks, iam_url, sts_url

if TYPE_CHECKING:
    from kpstask.api.transport import Say, Transport
    from kpstask.context import Run


class Resolver:
    """The settings of one run: each from its flag, else the environment, else the profile."""

    def __init__(self, run: Run, flags: Mapping[str, object]) -> None:
        self.run = run
        self.wall = run.wall
        self.flags = flags
        self.checks = Checks(bool(flags.get("allow_http")), run.warn)
        self._profile: Profile | None = None
        self._read: dict[tuple[str, str, str], str] = {}

    @property
    def chosen_profile(self) -> Found:
        found = find(BY_NAME["profile"], self.flags, self.run.env, None)
        return found or Found(BY_NAME["profile"], "default", _("default"), DEFAULT)

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            chosen = self.chosen_profile
            self._profile = config.load_profile(chosen.value if chosen.layer != DEFAULT else None, self.run.env)
        return self._profile

    def find(self, name: str, partner: Found | None = None) -> Found | None:
        setting = BY_NAME[name]
        profile = self.profile if setting.profile_key else None
        return find(setting, self.flags, self.run.env, profile, partner)

    def read(self, found: Found) -> str:
        """The checked value; a secret file is read now, and the secret masked from here on.
        Read once: a second use (the region for IAM) does not warn again."""
        key = (found.setting.name, found.source, found.value)
        if key not in self._read:
            self._read[key] = self._check(found)
        return self._read[key]

    def _check(self, found: Found) -> str:
        setting = found.setting
        try:
            raw = config.read_secret_file(found.value, found.source, self.run) if found.is_file else found.value
            value = setting.check(raw, setting.label, found.where, self.checks)
        except UsageError as error:  # said as a problem of this setting, with the others
            raise SettingsError(as_problem(error, setting.label)) from None
        if setting.secret:
            self.run.add_secret(value)
        return value

    def trace(self) -> list[str]:
        """`config show --debug`: where each setting was looked for (names, never values)."""
        profile = self.profile
        return [looked_at(s, self.flags, self.run.env, profile if s.profile_key else None) for s in SETTINGS]


ENDPOINT_DEFAULTS = {
    "iam_endpoint": (iam_url, N_("default (global IAM)")),
    "sts_endpoint": (sts_url, N_("default (cn-north-4's, as the SDK's)")),
}


def service_endpoint(resolver: Resolver, name: str) -> tuple[str, str]:
    """IAM's or STS's URL (`name`: its setting) and where it came from: the setting, else the
    region's, else the default."""
    found = resolver.find(name)
    if found is not None:
        return resolver.read(found), found.source
    url_of, default = ENDPOINT_DEFAULTS[name]
    default = _(default)
    region = resolver.find("region")
    if region is None:
        return url_of(None), default
    return url_of(resolver.read(region)), _("default for the region")


def optional(resolver: Resolver, name: str) -> tuple[str, str] | None:
    """(checked value, source) of a setting, or None when it is not given."""
    found = resolver.find(name)
    return None if found is None else (resolver.read(found), found.source)


# What requests imports during a request, not at its own import: `netrc` (and `shlex`), for the
# credentials a ~/.netrc may hold for the host, at each request of a session that reads the
# environment (it does: for the proxies). Imported with the transport, on the main thread before
# any worker starts, so that no worker ever takes the import lock (issue 20 item 18: a worker
# waited for ever on a lock an interrupted import on the main thread had kept).
# tests/test_ctrl_c_window.py finds these by recording what a worker's first requests import.
REQUEST_TIME_IMPORTS = ("netrc",)


def transport(
    run: Run, base: str, timing: Timing, pool: int = 10, on_retry: Say | None = None, *, direct: bool = False
) -> Transport:
    from kpstask.api.transport import Backoff, Transport

    for name in REQUEST_TIME_IMPORTS:
        __import__(name)
    return Transport(
        base,
        timeout_s=timing.timeout_s,
        retry=Backoff.exponential(retries=timing.retries),
        debug=run.debug if run.debug_on else None,
        on_retry=on_retry,
        pool_size=pool,
        direct=direct,
        # The run's sleep (a test's passes at once). Not its clock: the transport's clock times
        # real requests against real socket timeouts.
        sleep=run.sleep,
    )
