"""Every setting, declared once: its flag, its environment variables in order of
precedence, its profile key, its check, and whether it is a secret.

Resolution (flag, then environment, then profile), the `[env: ...]` help texts,
the hints that name variables, and the rows of `config show` are all made from
`SETTINGS` (kpstask.settings.table). Adding a setting is one row there (and reading it where
it is used).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from kpstask.errors import UsageError
from kpstask.i18n import N_, _, compose, joined
from kpstask.settings.table import SETTINGS, Check, Setting, abbreviated
from kpstask.text import cell_ljust, cell_width

__all__ = ["SETTINGS", "Check", "Setting", "abbreviated"]  # the table's names, where they were

FLAG, ENV, PROFILE, DEFAULT = 0, 1, 2, 3  # layers: lower is more explicit


BY_NAME: Mapping[str, Setting] = {setting.name: setting for setting in SETTINGS}
PROFILE_KEYS: tuple[str, ...] = tuple(s.profile_key for s in SETTINGS if s.profile_key)
FILE_KEYS = frozenset(s.profile_key for s in SETTINGS if s.secret and s.profile_key)


def env_help(setting: Setting) -> str:
    return f" [env: {', '.join(setting.env)}]" if setting.env else ""


def file_help(setting: Setting) -> str:
    """Help of a `--...-file` flag; it names the variables when there is no value flag to."""
    text = f"Read the {setting.label} from PATH (- for stdin)."  # translated as shown (cli/speaking)
    return text + ("" if setting.flag else env_help(setting))


def one_of(names: tuple[str, ...] | list[str], last: str = "or") -> str:
    """`A, B or C` (`last`: "or" or "and")."""
    if len(names) == 1:
        return names[0]
    words = _("{names} and {last}") if last == "and" else _("{names} or {last}")
    return words.format(names=joined(", ", names[:-1]), last=names[-1])


class Profile(NamedTuple):
    """The chosen profile's values; empty when there is no config file."""

    name: str
    path: Path | None
    values: Mapping[str, str]

    def source(self, key: str) -> str:
        return _("profile {name} ({path}) {key}").format(name=self.name, path=self.path, key=key)


class Found(NamedTuple):
    """A setting's raw value and where it came from. For a secret from a flag file or a
    profile, `value` is the path of the file that holds it (read only when used)."""

    setting: Setting
    value: str
    source: str  # `--region`, `environment variable KPSTASK_REGION`, `profile default (...) region`
    layer: int
    is_file: bool = False
    env_index: int = -1

    @property
    def where(self) -> str:
        return f"{self.source} {self.value}" if self.is_file else self.source


def find(
    setting: Setting,
    flags: Mapping[str, object],
    env: Mapping[str, str],
    profile: Profile | None,
    partner: Found | None = None,
) -> Found | None:
    """The flag if given, else the first environment variable set, else the profile."""
    if setting.file_flag and flags.get(f"{setting.name}_file") is not None:
        path = str(flags[f"{setting.name}_file"])
        return Found(setting, path, setting.file_flag, FLAG, is_file=True)
    if setting.flag and flags.get(setting.name) is not None:
        return Found(setting, str(flags[setting.name]), setting.flag, FLAG)
    names = setting.env
    if setting.family is not None:  # only the partner's own family: a mix would not match
        index = partner.env_index if partner is not None else -1
        names = (names[index],) if index >= 0 else ()
    for index, name in enumerate(setting.env):
        if name in names and name in env:
            return Found(setting, env[name], _("environment variable {name}").format(name=name), ENV, env_index=index)
    key = setting.profile_key
    if profile is not None and key is not None and key in profile.values:
        if setting.family is not None and (partner is None or partner.layer != PROFILE):
            return None
        return Found(setting, profile.values[key], profile.source(key), PROFILE, is_file=setting.secret)
    return None


def row(found: Found) -> tuple[str, str, str]:
    """(label, value as shown, source): a `config show` row; a secret is never shown."""
    setting = found.setting
    if setting.secret:
        shown = _("*** (masked)")
    else:
        shown = setting.shown(found.value.strip()) if setting.shown else found.value.strip()
    return setting.label, shown, found.source


HINT_WIDTH = 11  # the first column of a hint list: `credentials`, `or endpoint`
MORE_HINT = N_("every flag, variable and profile key: kpstask config show --help")


def hint_row(left: str, right: str) -> str:
    """`region       --region or KPSTASK_REGION`: a line of a hint list."""
    return compose(lambda left, right: f"{cell_ljust(left, HINT_WIDTH)}  {right}", left, right)


def short_where(setting: Setting) -> str:
    """`--region or KPSTASK_REGION`: the flag (for a secret, its file flag) and the first
    variable; `kpstask config show --help` has the rest."""
    flag = setting.file_flag or setting.flag
    return _("{flag} or {variable}").format(flag=flag, variable=setting.env[0]) if flag else setting.env[0]


class Problem(NamedTuple):
    """One thing wrong with the settings: a command names them all in one error,
    `config show` lists them."""

    label: str  # `region (or endpoint)`, `project id`, `credentials`, `token`, `config file`
    message: str  # a whole sentence: `no project id given`, `invalid region 'x' (from --region)`
    hints: tuple[str, ...] = ()  # one line each, short enough for 80 columns
    missing: bool = False


class SettingsError(UsageError):
    """Every problem of the settings at once: one error line, then a short hint list."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        labels = joined(", ", [label_words(problem.label) for problem in self.problems])
        if len(self.problems) == 1:
            hint = None if first.missing else "; ".join(first.hints) or None
            super().__init__(first.message, hint=hint)
        elif all(problem.missing for problem in self.problems):
            super().__init__(_("missing settings: {labels}").format(labels=labels))
        else:
            count = len(self.problems)
            super().__init__(_("{count} problems with the settings: {labels}").format(count=count, labels=labels))

    def hint_lines(self) -> list[str]:
        """Where to set what is missing, and what is wrong with the rest."""
        several = len(self.problems) > 1
        lines: list[str] = []
        for problem in self.problems:
            if problem.missing:
                lines += problem.hints
            elif several:  # the message, and its hints under it
                lines += [problem.message, *(f"  {hint}" for hint in problem.hints)]
        if any(problem.missing for problem in self.problems):
            lines.append(_(MORE_HINT))
        return ["  " + line for line in lines]


def label_words(label: str) -> str:
    """A problem's label (`region (or endpoint)`, English: JSON names it so) as a person reads it."""
    first, _sep, other = label.partition(" (or ")
    if not other:
        return _(label)
    return _("{label} (or {other})").format(label=_(first), other=_(other.removesuffix(")")))


def missing(*names: str) -> SettingsError:
    """`no region or endpoint given`, and where each may be set: from the table."""
    settings = [BY_NAME[name] for name in names]
    label = settings[0].label + "".join(f" (or {s.label})" for s in settings[1:])  # as JSON names it
    labels = [_(s.label) for s in settings]
    hints = tuple(
        hint_row(_("or {label}").format(label=labels[i]) if i else labels[0], short_where(s))
        for i, s in enumerate(settings)
    )
    message = _("no {settings} given").format(settings=one_of(labels))
    return SettingsError([Problem(label, message, hints, missing=True)])


def as_problem(error: UsageError, label: str) -> list[Problem]:
    """A usage error as the problems it holds (`label`: the setting it is about)."""
    if isinstance(error, SettingsError):
        return list(error.problems)
    return [Problem(label, error.message, (error.hint,) if error.hint else ())]


def looked_at(setting: Setting, flags: Mapping[str, object], env: Mapping[str, str], profile: Profile | None) -> str:
    """For `config show --debug`: every place `setting` may come from, in order, and which
    are set (the first one set wins). Names only: never a value."""
    places = [
        (flag, flags.get(key) is not None)
        for flag, key in ((setting.file_flag, f"{setting.name}_file"), (setting.flag, setting.name))
        if flag
    ]
    places += [(name, name in env) for name in setting.env]
    if setting.profile_key and profile is not None:
        places.append((f"profile {profile.name} key {setting.profile_key}", setting.profile_key in profile.values))
    if not places:
        return f"{setting.label}: nowhere to look"
    found = [name for name, present in places if present]
    return f"{setting.label}: looked at {', '.join(name for name, _ in places)}; set: {', '.join(found) or 'none'}"


HELP_WIDTH = 78  # the table's lines, under click's indent of 2: 80 columns


def help_table() -> str:
    """`config show --help`'s list of every setting and where it may come from: a block per
    setting, its label, then its flags, its variables and its profile key on lines of their
    own, every line within 80 columns and no name split."""
    lines = ["\b", *_(SETTINGS_HELP).splitlines()]
    for setting in SETTINGS:
        flags = (f"{setting.flag} ({setting.short})" if setting.short else setting.flag, setting.file_flag)
        lines.append(f"  {_(setting.label)}")
        for title, given in (
            (N_("flag"), flags),
            (N_("variable"), setting.env),
            (N_("profile key"), (setting.profile_key,)),
        ):
            names = [name for name in given if name]
            if names:
                lines += _names_lines(_(title) if len(names) == 1 else _(PLURAL_TITLES[title]), names)
    return "\n".join(lines)


SETTINGS_HELP = N_(
    "Settings: each from its flag, else the first of its environment variables\n"
    "that is set, else its key in the profile of the config file."
)
PLURAL_TITLES = {"flag": N_("flags"), "variable": N_("variables"), "profile key": N_("profile keys")}


def _names_lines(title: str, names: Sequence[str]) -> list[str]:
    """`    variables    A, B,` / `                 C`: comma-separated names after a title,
    broken between names to fit HELP_WIDTH."""
    lines = [f"    {cell_ljust(title, 13)}"]
    for index, name in enumerate(names):
        piece = name + ("," if index < len(names) - 1 else "")
        if index and cell_width(lines[-1]) + 1 + len(piece) > HELP_WIDTH:
            lines.append(" " * 17)
        lines[-1] += ("" if lines[-1].endswith(" ") else " ") + piece
    return lines
