"""The app, the one place where every outcome becomes an exit code, and how `--help`
reads (click's plain formatter: no rich on the path of `--help`)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from kpstask import __version__
from kpstask.cli.speaking import cell_formatter, click_message, record, short_help, speak
from kpstask.context import Run
from kpstask.errors import ExitCode, KpsError, UsageError, interrupt_code, interrupt_words, then
from kpstask.i18n import N_, _, current, use
from kpstask.text import printable

EXIT_CODES_HELP = N_("""\b
Exit codes:
  0    every task succeeded
  1    a task failed (FAILED_*)
  2    usage error: bad option, bad id, missing region/project/credentials
  3    a task is not finished yet (or its status is unknown)
  4    credentials refused (401/403)
  5    task not found (404, or the API's "taskId is illegal")
  6    API error: other error status after retries, or an undocumented answer
  7    network error: DNS, connection, TLS, or timeout after retries
  70   a bug in kpstask (rerun with --debug and report it)
  74   the output could not be written (disk full, I/O error, encoding)
  124  a wait reached its deadline
  129  hung up (SIGHUP: the terminal closed)
  130  interrupted (Ctrl-C)
  141  stdout was closed early (broken pipe)
  143  terminated (SIGTERM, as CI runners and `timeout` send)
With several tasks the worst wins, in this order: 2, 4, 7, 6, 5, 1, 124, 3, 0.""")


class StdoutClosed(Exception):
    """The reader of stdout went away (`kpstask get ... | head -1`)."""


class Reported(int):
    """An exit code whose reason the command has said already (`demo`'s `interrupted: ...`
    above its table): mapped, not said again."""


class ClosedStdin(io.TextIOBase):
    """Stands in for a standard input that was closed at start (`kpstask get - <&-`): reading
    it is a usage error that says so, not a bug."""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise UsageError(_("cannot read task ids: standard input is closed"), hint=_("give the ids as arguments"))

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self.read()


def process_run() -> Run:
    """The run of this process: its streams (a closed one stands in as /dev/null, or a stdin
    that says it is closed), environment, clocks and sleep. Made once, by the console script."""
    # Started with a closed stdout or stderr (`kpstask get ... >&-`): write into the void.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    if sys.stdin is None:
        sys.stdin = ClosedStdin()
    return Run()


def run_app(app: typer.Typer, argv: Sequence[str], run: Run) -> int:
    """`app` on `argv` in `run`: the exit code (a Tab completion's too; it ends in SystemExit)."""
    command = typer.main.get_command(app)
    try:
        return int(command.main(list(argv), "kpstask", standalone_mode=False, obj=run))
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        raise


def _command_path(ctx: Any) -> str:
    """`config show` for `kpstask config show`, "" for kpstask itself, whatever the program's name."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(reversed(names))


def write_examples(ctx: Any, formatter: Any) -> None:
    """The command's Examples section, from the one table, line breaks kept."""
    from kpstask.cli.examples import EXAMPLES

    lines = EXAMPLES.get(_command_path(ctx))
    if lines:
        with formatter.section(_("Examples")):
            for line in lines:
                text = _(line) if line.startswith("#") else line
                formatter.write(f"{'':>{formatter.current_indent}}{text}\n")


class KpsCommand(TyperCommand):
    """A command's help: usage `TASK_ID...` rather than typer's `{TASK_ID...}`, the options
    under their headings (typer's `rich_help_panel`, as the option groups declare them), and
    an Examples section before the epilog."""

    def get_help(self, ctx: Any) -> str:
        ctx.formatter_class = cell_formatter(ctx.formatter_class)
        return str(super().get_help(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            # typer braces a required argument (and typer 0.29 wraps an optional one again);
            # an argument's declared metavar reads as click's own convention.
            plain = param.metavar if param.param_type_name == "argument" else None
            pieces.extend([plain] if plain else param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        helps = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":  # its metavar alone: no typer choice list
                sections.setdefault(_("Arguments"), []).append((param.metavar or record[0], record[1]))
            elif set(param.opts) & set(ctx.help_option_names) or param.name == "lang":
                helps.append(record)  # with --lang, at the end of the last section (Other, where there is one)
            else:
                sections.setdefault(getattr(param, "rich_help_panel", None) or _("Options"), []).append(record)
        # --help closes the last section (Other, where there is one).
        last = next(reversed([name for name in sections if name != _("Arguments")]), _("Options"))
        sections.setdefault(last, []).extend(helps)
        _write_sections(formatter, sections)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        write_examples(ctx, formatter)
        super().format_epilog(ctx, formatter)

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)), _("Usage: "))


def _write_sections(formatter: Any, sections: dict[str, list[tuple[str, str]]]) -> None:
    """Each section as click writes `Options:`, the help column at one place in all of them."""
    terms = [term for rows in sections.values() for term, _ in rows]
    width = min(max(map(len, terms), default=0), 30)
    for name, rows in sections.items():
        with formatter.section(name):
            # write_dl aligns each call by its own rows: pad one term to the common width.
            first, text = rows[0]
            formatter.write_dl([record(first.ljust(width), text), *(record(*row) for row in rows[1:])])


def use_help_class(app: typer.Typer) -> None:
    """Give every command of `app` and of its sub-apps KpsCommand's help (where it was
    left at typer's default), so command modules need not name it."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = KpsCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_help_class(group.typer_instance)


class HelpGroup(TyperGroup):
    """A group's help as a command's reads (`config`'s too): its words in the run's language."""

    def get_help(self, ctx: Any) -> str:
        ctx.formatter_class = cell_formatter(ctx.formatter_class)
        return str(super().get_help(ctx))

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)), _("Usage: "))

    def format_options(self, ctx: Any, formatter: Any) -> None:
        KpsCommand.format_options(self, ctx, formatter)  # type: ignore[arg-type]
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command with its first sentence whole (click would cut it at the terminal's width)."""
        commands = ((name, self.get_command(ctx, name)) for name in self.list_commands(ctx))
        rows = [
            (name, short_help(cmd.get_short_help_str(limit=200))) for name, cmd in commands if cmd and not cmd.hidden
        ]
        if rows:
            with formatter.section(_("Commands")):
                formatter.write_dl(rows)


class KpsGroup(HelpGroup):
    """Maps every outcome to the exit-code contract, for the console script and CliRunner alike."""

    command_order: tuple[str, ...] = ()  # the order of `--help`'s command list (set by `cli.load`)

    def invoke(self, ctx: Any) -> Any:
        # Caught here, before typer's own handler turns EPIPE into a bare exit 1.
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise StdoutClosed from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # The run is `kpstask.cli.main`'s; driven by click itself (`app()`, a test runner), it
        # may be given as a factory, called once the streams are the ones of the run.
        given = extra.pop("obj", None)
        run = given if isinstance(given, Run) else given() if callable(given) else process_run()
        parent = super().main

        def call() -> Any:
            speak(self, args or [], run)  # before parsing: `--help` speaks the language too
            return parent(args, prog_name or "kpstask", complete_var, standalone_mode=False, obj=run, **extra)

        before = current()
        try:
            code = run_mapped(run, call)
        finally:
            use(before)  # one process may run both languages, one run after another (tests do)
        if standalone_mode:
            sys.exit(code)
        return code

    def list_commands(self, ctx: Any) -> list[str]:
        order = {name: index for index, name in enumerate(self.command_order)}
        return sorted(super().list_commands(ctx), key=lambda name: order.get(name, len(order)))

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        write_examples(ctx, formatter)
        super().format_epilog(ctx, formatter)


def _click_error(exc: BaseException) -> str | None:
    """Which of click's errors this is, by class name: typer ships click inside a private
    module, so the classes are recognised rather than imported."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    for name in ("NoArgsIsHelpError", "UsageError", "ClickException"):
        if name in names:
            return name
    return None


def run_mapped(run: Run, call: Callable[[], Any]) -> int:
    """Run the command; turn its result or exception into an exit code."""
    try:
        rv = call()
        sys.stdout.flush()
    except KpsError as exc:
        run.say("error", str(exc))
        for line in exc.hint_lines():  # a list under the error line; every line says whose it is
            run.raw_stderr.write(f"kpstask: {run.redact(printable(line))}\n")
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt) as exc:
        code = interrupt_code(exc)
        run.say("error", interrupt_words(code))
        return code
    except (BrokenPipeError, StdoutClosed):
        _silence_stdout()
        return ExitCode.BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the one place a bug becomes exit 70
        return _click_exit(run, exc) if _click_error(exc) else _unwritten(run, exc) or _report_bug(run, exc)
    interrupts = (ExitCode.INTERRUPTED, ExitCode.TERMINATED, ExitCode.HUNG_UP)
    if rv in interrupts and not isinstance(rv, Reported):  # typer turns Ctrl-C into Exit(130)
        rv = interrupt_code()
        run.say("error", interrupt_words(rv))
    return int(rv) if isinstance(rv, int) else ExitCode.OK


WRITE_ERRORS = {"ENOSPC", "EIO", "EDQUOT", "EFBIG", "EROFS", "EBADF", "ENXIO"}
# What the C library says of each (glibc's words), for the catalogs: said in the run's language.
WRITE_ERROR_WORDS = (
    N_("No space left on device"),
    N_("Input/output error"),
    N_("Disk quota exceeded"),
    N_("File too large"),
    N_("Read-only file system"),
    N_("Bad file descriptor"),
    N_("No such device or address"),
)


def _unwritten(run: Run, exc: Exception) -> int:
    """Exit 74 with one line when the output could not be written (`> /dev/full`, a stdout
    whose encoding lacks a character of the answer); 0 when `exc` is something else."""
    import errno

    if isinstance(exc, UnicodeEncodeError) and _output_encoding(exc.encoding):
        char = exc.object[exc.start : exc.end]
        why = _("its encoding ({encoding}) has no {char}; hint: set PYTHONIOENCODING=utf-8").format(
            encoding=exc.encoding, char=ascii(char)[1:-1]
        )
    elif isinstance(exc, OSError) and errno.errorcode.get(exc.errno or 0) in WRITE_ERRORS and exc.filename is None:
        why = _(exc.strerror) if exc.strerror else str(exc)
    else:
        return 0
    stream = _("standard error") if _still_failing(sys.stderr) else _("standard output")
    _silence_stdout()
    run.say("error", _("cannot write to {stream}: {why}").format(stream=stream, why=why))
    return ExitCode.IO


def _output_encoding(name: str) -> bool:
    """Whether `name` is the encoding of stdout or stderr."""
    import codecs

    names = {getattr(stream, "encoding", None) for stream in (sys.stdout, sys.stderr)}
    return codecs.lookup(name).name in {codecs.lookup(each).name for each in names if each}


def _still_failing(stream: Any) -> bool:
    try:
        stream.flush()
    except (OSError, ValueError):
        return True
    return False


def _click_exit(run: Run, exc: Any) -> int:
    kind = _click_error(exc)
    if kind == "NoArgsIsHelpError":
        exc.show()
        return ExitCode.USAGE
    if kind == "UsageError":
        text = click_message(exc.format_message()).rstrip(".")
        see = _("see '{command} --help'")
        run.say("error", then(text, see.format(command=exc.ctx.command_path)) if exc.ctx is not None else text)
        return ExitCode.USAGE
    run.say("error", click_message(exc.format_message()))
    return int(exc.exit_code)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _report_bug(run: Run, exc: Exception) -> int:
    if run.debug_on:
        import traceback  # 8 ms to import: only when there is a bug to show

        run.raw_stderr.write(run.redact("".join(traceback.format_exception(exc))))
    words = _("unexpected {kind}: {error}; this is a bug: rerun with --debug and report it")
    run.say("error", words.format(kind=type(exc).__name__, error=exc))
    return ExitCode.BUG


app = typer.Typer(
    cls=KpsGroup,
    name="kpstask",
    help=N_(
        "Did the key-pair change on my Huawei Cloud server work yet? "
        "Query Key Pair Service (KPS) tasks and say the outcome in the exit code."
    ),
    epilog=EXIT_CODES_HELP,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"kpstask {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help=N_("Print the version and exit.")),
    ] = False,
) -> None:
    """Did the key-pair change on my Huawei Cloud server work yet?"""
