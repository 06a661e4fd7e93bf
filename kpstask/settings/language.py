"""Which language a run speaks, found before its command line is parsed (`--help` must
already speak it): `--lang`, else `KPSTASK_LANG`, else the profile's `lang`, else the POSIX
locale variables. The setting is a row of the table like any other (`config show` shows it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kpstask.errors import UsageError
from kpstask.i18n import LOCALE_VARIABLES, _, from_locale, given_flag
from kpstask.settings import BY_NAME
from kpstask.settings.endpoints import check_language


def choose(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str, str]:
    """The run's language and where it came from (as `config show` says it); a UsageError
    when the one asked for is not one of ours."""
    setting = BY_NAME["lang"]
    given = given_flag(argv)
    if given is not None:
        return check_language(given, setting.label, "--lang", None), "--lang"
    for name in setting.env:
        if env.get(name):
            source = _("environment variable {name}").format(name=name)
            return check_language(env[name], setting.label, source, None), source
    in_profile = _in_profile(argv, env)
    if in_profile is not None:
        return check_language(in_profile[0], setting.label, in_profile[1], None), in_profile[1]
    locale = next((name for name in LOCALE_VARIABLES if env.get(name)), None)
    if locale is None:
        return "en", _("default")
    return from_locale(env), _("environment variable {name} (the locale)").format(name=locale)


def _in_profile(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str, str] | None:
    """The profile's `lang` and where it is, when there is a config file that has one; a
    broken config file is said by the command itself, not here."""
    from kpstask.settings.config import PROFILE_ENV, config_path, load_profile  # not for --lang or KPSTASK_LANG

    if not config_path(env).exists():
        return None
    try:
        profile = load_profile(given_flag(argv, "--profile") or env.get(PROFILE_ENV) or None, env)
    except (UsageError, OSError):
        return None
    value = profile.values.get("lang")
    return (value, profile.source("lang")) if value else None
