"""The language a run speaks: which one (`--lang`, `KPSTASK_LANG`, the profile's `lang`, else
the POSIX locale variables) and its messages, from the gettext catalogs in `locale/`.

English is the messages as written in the code (the catalogs' msgids): an English run loads
no catalog and does not import `gettext`. `_` translates a message when it is said, so one
process may run commands in both languages (tests do); `N_` only marks a message for the
extractor (`python -m kpstask.i18n.catalog`), for text translated later, where it is shown.
Machine output (JSON Lines, TSV), exit codes, status codes, names and ids never pass here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

# The languages, each with its catalog's folder in locale/ (None: the msgids themselves).
LANGUAGES: dict[str, str | None] = {"en": None, "zh": "zh_CN"}
# What else `--lang` accepts, lower case: what KooCLI users type (`--cli-lang=cn`) and the tags.
ALIASES = {"zh-cn": "zh", "zh_cn": "zh", "zh-hans": "zh", "zh_hans": "zh", "cn": "zh", "english": "en"}
NAMES = "en (English), zh (简体中文; also zh-CN, zh_CN, zh-Hans, cn)"
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")  # POSIX's order: the first one set wins
# Locale names read as Simplified Chinese; zh_TW, zh_HK and zh_MO (Traditional) are not ours.
_SIMPLIFIED = ("zh", "zh_cn", "zh_sg", "zh_hans", "zh_hans_cn")
LOCALE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")  # no pathlib: start-up
DOMAIN = "kpstask"

# The one piece of process-wide state, as gettext's own: messages are made in every layer and
# in the wait's worker threads, which a translator handed down would have to reach through every
# signature. One run speaks at a time: KpsGroup.main sets it before parsing and puts back after.
_active: Any = None  # the running language's gettext translations; None for English
_active_lang = "en"


class Said(str):
    """A message in the run's language that keeps its English: machine output (JSON, TSV) is
    the same in every language, and a message may reach it (an error's `message`). `format`
    keeps both; any other way of joining strings gives a plain, translated str."""

    en: str

    def __new__(cls, text: str, en: str) -> Said:
        said = super().__new__(cls, text)
        said.en = en
        return said

    def format(self, *args: object, **fields: object) -> Said:
        text = str.format(self, *args, **fields)
        return Said(text, self.en.format(*map(_english, args), **{key: _english(v) for key, v in fields.items()}))


def english(text: str) -> str:
    """The English of a message (itself when it is not a translated one)."""
    return text.en if isinstance(text, Said) else text


def joined(separator: str, items: Iterable[str]) -> str:
    """`items` joined by the run's word for `separator` (`, ` is `、` in Chinese), keeping the
    English of translated messages (str.join would give a plain, translated str)."""
    items = list(items)
    return compose(lambda sep, *parts: sep.join(parts), _(separator), *items)


def _english(value: object) -> object:
    return value.en if isinstance(value, Said) else value


def compose(join: Callable[..., str], *parts: str) -> str:
    """`join(*parts)`, keeping its English when a part is a translated message: for text
    laid out by code (padded columns) rather than by a message's words."""
    text = join(*parts)
    if not any(isinstance(part, Said) for part in parts):
        return text
    return Said(text, join(*map(english, parts)))


def _(message: str) -> str:
    """`message` in the running language."""
    if _active is None or isinstance(message, Said):  # a message translated already stays so
        return message
    return Said(_active.gettext(message), message)


def N_(message: str) -> str:
    """Marks `message` for the catalogs; it is translated where it is shown."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of a message for `count` things, in the running language."""
    english_form = singular if count == 1 else plural
    if _active is None:
        return english_form
    return Said(_active.ngettext(singular, plural, count), english_form)


def current() -> str:
    """The running language: `en` or `zh`."""
    return _active_lang


def use(lang: str) -> str:
    """Speak `lang` from now on (its catalog loaded once); the language spoken before."""
    global _active, _active_lang
    before = _active_lang
    _active, _active_lang = _catalog(lang), lang
    return before


_LOADED: dict[str, Any] = {}


def _catalog(lang: str) -> Any:
    folder = LANGUAGES.get(lang)
    if folder is None:
        return None
    if lang not in _LOADED:
        import gettext  # only for a language other than English

        path = os.path.join(LOCALE_DIR, folder, "LC_MESSAGES", f"{DOMAIN}.mo")
        with open(path, "rb") as handle:
            _LOADED[lang] = gettext.GNUTranslations(handle)
    return _LOADED[lang]


def language(value: str) -> str | None:
    """`en` or `zh` for what `--lang` was given (`zh-CN`, `CN`, ...); None if it is none of them."""
    key = value.strip().lower()
    return key if key in LANGUAGES else ALIASES.get(key)


def from_locale(env: Mapping[str, str]) -> str:
    """The language of the POSIX locale: the first of LC_ALL, LC_MESSAGES, LANG that is set
    (`zh_CN.UTF-8` is Chinese; `C`, `POSIX` and anything not ours is English)."""
    value = next((env[name] for name in LOCALE_VARIABLES if env.get(name)), "")
    name = value.partition(".")[0].partition("@")[0].replace("-", "_").lower()
    return "zh" if name in _SIMPLIFIED else "en"


def given_flag(argv: Sequence[str], flag: str = "--lang") -> str | None:
    """The value of the last `flag` on the command line (before a `--`), if any: the
    language must be known before the command line is parsed, for `--help` to speak it."""
    found = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == flag and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith(flag + "="):
            found = arg.partition("=")[2]
    return found
