"""The command line in the run's language: the `--lang` option every command takes, the
help texts translated as `--help` shows them, and click's own messages (its usage errors
are English text built inside click) matched and said in our words.

Help texts are declared in English at import time (typer reads them off decorators and
signatures); each run translates them here, on the click command, from the English kept aside,
so one process, even one command made once, shows help in either language (the tests do)."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kpstask.i18n import LANGUAGES, N_, _, current, from_locale, use
from kpstask.settings import BY_NAME, SETTINGS_HELP, env_help, help_table
from kpstask.text import cell_width, wrap_cells

if TYPE_CHECKING:
    from kpstask.context import Run

# Help texts typer and click write themselves: for the catalog (translated where they are shown).
CLICK_HELP = (
    N_("Show this message and exit."),
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
)
SETTINGS_TABLE = "\b\n" + SETTINGS_HELP
_ENV_RE = re.compile(r"(?s)(.*?) \[env: ([^\]]*)\]")
_FILE_RE = re.compile(r"Read the (.+) from PATH \(- for stdin\)\.")
_DEFAULT_RE = re.compile(r"\[default: ([^\]]*)\]")


@functools.cache
def lang_option() -> Any:
    """`--lang`, on every command: read before parsing (kpstask.settings.language); parsed
    here only so that it is accepted and shown in `--help`. Made by typer from a declaration,
    as every other option is (its option class's constructor changes between releases), once,
    and shared: an option keeps no state of a run."""
    import typer

    setting = BY_NAME["lang"]
    declared = typer.Option(
        None,  # the default: declared as a parameter's default, the first argument is the default
        setting.flag or "--lang",
        metavar=setting.metavar,
        expose_value=False,
        is_eager=True,
        help=setting.help + env_help(setting),
        autocompletion=lambda ctx, args, incomplete: list(LANGUAGES),  # typer keeps those that match
    )
    probe = typer.Typer()

    @probe.command()
    def language(lang: str | None = declared) -> None:  # the default's form: `declared` is local
        pass  # never run: only its option is taken

    return typer.main.get_command(probe).params[0]


def speak(command: Any, argv: Sequence[str], run: Run) -> None:
    """Speak the run's language (`--lang`, KPSTASK_LANG, the profile, the locale) from now on,
    and give `command` its `--lang` option and its help in that language. A language that is
    not one of ours is a usage error, said in the locale's language."""
    from kpstask.settings.language import choose

    use(from_locale(run.env))  # the language a refused `--lang` is said in
    use(choose(argv, run.env)[0])
    run.language = choose(argv, run.env)  # again, for `config show` to say where from in that language
    prepare(command)


def prepare(command: Any) -> None:
    """Give `command` and its subcommands `--lang`, and their help the run's language. A
    command made once may serve many runs (tests): each text is translated from its English,
    kept aside the first time; an English run that never translated touches nothing."""
    if not any(param.name == "lang" for param in command.params):
        command.params.append(lang_option())
    for attr in ("help", "short_help", "epilog"):
        _translate(command, attr, help_text)
    for param in command.params:
        _translate(param, "help", help_text)
        _translate(param, "rich_help_panel", lambda panel: _(panel) if panel else panel)
    for sub in getattr(command, "commands", {}).values():
        prepare(sub)


def _translate(thing: Any, attr: str, translated: Callable[[Any], Any]) -> None:
    """`thing.attr` in the run's language, from the English it had when first translated."""
    kept = f"_kpstask_english_{attr}"
    if not hasattr(thing, kept):
        if current() == "en":
            return
        setattr(thing, kept, getattr(thing, attr, None))
    setattr(thing, attr, translated(getattr(thing, kept)))


def help_text(text: str | None) -> str | None:
    """A help text in the run's language; its `[env: ...]` part kept, names as they are."""
    if not text:
        return text
    if text.startswith(SETTINGS_TABLE):  # `config show --help`'s table, made from the settings
        return help_table()
    env = _ENV_RE.fullmatch(text)
    if env:
        return _("{text} [env: {names}]").format(text=help_text(env.group(1)), names=env.group(2))
    read = _FILE_RE.fullmatch(text)
    if read:
        return _("Read the {label} from PATH (- for stdin).").format(label=_(read.group(1)))
    translated = _(text)
    return translated if translated != text else _(inspect.cleandoc(text))


def record(term: str, text: str) -> tuple[str, str]:
    """A help row with typer's own `[default: ...]` in the run's language."""
    if text in CLICK_HELP:  # click's own --help, not among the params made for this run
        text = _(text)
    text = _DEFAULT_RE.sub(lambda m: _("[default: {value}]").format(value=m.group(1)), text)
    return term, text.replace("[required]", _("[required]"))


def short_help(text: str) -> str:
    """A command's first sentence, for the command list (click cuts at `. ` only)."""
    if current() == "en":
        return text
    first = re.split(r"(?<=。)", text, maxsplit=1)[0]
    return first.rstrip("。")


_FORMATTERS: dict[type, type] = {}


def cell_formatter(base: type) -> type:
    """click's help formatter (`base`: it is typer's private copy, so it is subclassed, not
    imported), wrapping text that is not ASCII by terminal cells and between wide characters:
    click wraps at spaces, and measures a Chinese character as one column."""
    if base not in _FORMATTERS:

        class CellFormatter(base):  # type: ignore[misc]
            def write_text(self, text: str) -> None:
                super().write_text(prewrapped(text, self.width - self.current_indent))

            def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
                rows = list(rows)
                first = min(max((cell_width(term) for term, _text in rows), default=0), col_max) + col_spacing
                room = max(self.width - first - 2, 10)
                super().write_dl([(term, prewrapped(text, room)) for term, text in rows], col_max, col_spacing)

        _FORMATTERS[base] = CellFormatter
    return _FORMATTERS[base]


def prewrapped(text: str, width: int) -> str:
    """Paragraphs that are not ASCII broken into lines of `width` cells, each marked as
    click's `\\b` (kept as it is); the others left to click."""
    if text.isascii():
        return text
    paragraphs = []
    for paragraph in text.split("\n\n"):
        if paragraph.isascii() or paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        joined = _join_lines(paragraph.splitlines())
        lines = [piece for line in wrap_cells(joined, width) for piece in _cut(line, width)]
        paragraphs.append("\b\n" + "\n".join(lines))
    return "\n\n".join(paragraphs)


def _cut(line: str, width: int) -> list[str]:
    """A line still too wide (one long name) cut at `width` cells, as click cuts a long word."""
    if cell_width(line) <= width:
        return [line]
    pieces, used = [""], 0  # the width of the last piece, kept as it grows
    for char in line:
        size = cell_width(char)
        if pieces[-1] and used + size > width:
            pieces.append("")
            used = 0
        pieces[-1] += char
        used += size
    return pieces


def _join_lines(lines: list[str]) -> str:
    """A paragraph's lines as one: a space between words, none between Chinese characters."""
    text = ""
    for line in (line.strip() for line in lines):
        wide = text and cell_width(text[-1]) == 2 and cell_width(line[:1]) == 2
        text += line if wide or not text else " " + line
    return text


# click's usage errors: its English (a pattern) -> our message; the groups fill it in.
# (Compiled when click's first error is said: not at every start.)
_CLICK_ERRORS: tuple[tuple[str, str], ...] = (
    (r"Invalid value for (?P<param>.+?): (?P<reason>.*)", N_("invalid value for {param}: {reason}")),
    (r"Invalid value: (?P<reason>.*)", N_("invalid value: {reason}")),
    (r"(?P<value>.+) is not one of (?P<choices>.+)", N_("{value} is not one of {choices}")),
    (r"(?P<value>.+) is not a valid (?P<kind>[a-z ]+)", N_("{value} is not a valid {kind}")),
    (r"(?P<value>.+) is not in the range (?P<range>.+)", N_("{value} is not in the range {range}")),
    (
        r"No such option: (?P<option>\S+) \(Possible options: (?P<options>.*)\)",
        N_("no such option: {option} (did you mean one of {options}?)"),
    ),
    (r"No such option: (?P<option>\S+)", N_("no such option: {option}")),
    (
        r"No such command (?P<name>.+?)\. Did you mean (?P<suggestions>.+)\?",
        N_("no such command {name}; did you mean {suggestions}?"),
    ),
    (r"No such command (?P<name>.+?)\.?", N_("no such command {name}")),
    (
        r"Missing argument (?P<name>\S+)\. Choose from:(?P<choices>.*)",
        N_("missing argument {name}; choose from: {choices}"),
    ),
    (r"Missing argument (?P<name>\S+?)\.?", N_("missing argument {name}")),
    (r"Missing option (?P<name>\S+?)\.?", N_("missing option {name}")),
    (r"Missing command\.?", N_("missing command")),
    (r"Option (?P<option>\S+) requires an argument\.?", N_("option {option} requires an argument")),
    (
        r"Option (?P<option>\S+) requires (?P<count>\d+) arguments\.?",
        N_("option {option} requires {count} arguments"),
    ),
    (r"Option (?P<option>\S+) does not take a value\.?", N_("option {option} does not take a value")),
    (r"Got unexpected extra arguments? \((?P<args>.*)\)", N_("unexpected extra arguments ({args})")),
)
# The kinds of values click names in its errors.
CLICK_KINDS = (N_("float"), N_("float range"), N_("integer"), N_("integer range"), N_("boolean"), N_("choice"))


def click_message(text: str) -> str:
    """One of click's error messages in the run's language (as it is in English)."""
    if current() == "en":
        return text
    return _click_words(text.strip())


def _click_words(text: str) -> str:
    text = text.strip().removesuffix(".")  # click ends most of its sentences with one
    text = text.removeprefix("Value error, ")  # typer 0.29 checks values with pydantic, which says so
    for pattern, message in _CLICK_ERRORS:
        match = re.fullmatch(pattern, text, re.S)  # re caches what it compiles
        if match:
            return _(message).format(**{key: _part(key, value) for key, value in match.groupdict().items()})
    return _(text)


def _part(key: str, value: str) -> str:
    """A piece of click's message: a reason is a message of its own, a kind a word."""
    if key == "reason":
        return _click_words(value)
    if key == "kind":
        return _(value)
    return " ".join(value.split())  # click's choice list comes over several lines
