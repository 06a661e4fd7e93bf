"""The command line: parse, resolve settings, ask the client, render.

Every failure becomes an exit code in one place, `KpsGroup.main`. requests
and rich are imported only where they are used, so `--help`, `--version` and
Tab completion stay fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

# typer 0.26+ ships its own click; its exceptions are what parsing raises.
from typer._click import core as click_core
from typer._click import exceptions as click_exceptions
from typer.core import TyperGroup

from kpstask import __version__
from kpstask.choices import OutputFormat, ProgressMode, Shell
from kpstask.console import RUN, say
from kpstask.errors import ExitCode, KpsError, UsageError

if TYPE_CHECKING:
    from kpstask.actions import ConnectionFlags, Display
    from kpstask.wait import WaitOptions

EXIT_CODES_HELP = """\b
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
  124  a wait reached its deadline
  130  interrupted (Ctrl-C)
  141  stdout was closed early (broken pipe)
With several tasks the worst wins, in this order: 2, 4, 7, 6, 5, 1, 124, 3, 0."""


class StdoutClosed(Exception):
    """The reader of stdout went away (`kpstask get ... | head -1`)."""


class KpsGroup(TyperGroup):
    """Maps every outcome to the exit-code contract, for the console script and CliRunner alike."""

    def invoke(self, ctx: click_core.Context) -> Any:
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
        RUN.reset()
        # Started with a closed stdout or stderr (`kpstask get ... >&-`): write into the void.
        if sys.stdout is None:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        if sys.stderr is None:
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        parent = super().main
        code = run_mapped(lambda: parent(args, prog_name or "kpstask", complete_var, standalone_mode=False, **extra))
        if standalone_mode:
            sys.exit(code)
        return code


def run_mapped(call: Callable[[], Any]) -> int:
    """Run the command; turn its result or exception into an exit code."""
    try:
        rv = call()
        sys.stdout.flush()
    except KpsError as exc:
        say("error", str(exc))
        return exc.exit_code
    except click_exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return ExitCode.USAGE
    except click_exceptions.UsageError as exc:
        where = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
        say("error", f"{exc.format_message().rstrip('.')}{where}")
        return ExitCode.USAGE
    except click_exceptions.ClickException as exc:
        say("error", exc.format_message())
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        say("error", "interrupted")
        return ExitCode.INTERRUPTED
    except (BrokenPipeError, StdoutClosed):
        _silence_stdout()
        return ExitCode.BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the one place a bug becomes exit 70
        return _report_bug(exc)
    if rv == ExitCode.INTERRUPTED:  # typer turns Ctrl-C in a command into Exit(130)
        say("error", "interrupted")
    return int(rv) if isinstance(rv, int) else ExitCode.OK


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _report_bug(exc: Exception) -> int:
    if RUN.debug:
        import traceback  # 8 ms to import: only when there is a bug to show

        sys.stderr.write(RUN.redact("".join(traceback.format_exception(exc))))
    say("error", f"unexpected {type(exc).__name__}: {exc}; this is a bug: rerun with --debug and report it")
    return ExitCode.BUG


app = typer.Typer(
    cls=KpsGroup,
    name="kpstask",
    help="Did the key-pair change on my Huawei Cloud server work yet? "
    "Query Key Pair Service (KPS) tasks and say the outcome in the exit code.",
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
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Did the key-pair change on my Huawei Cloud server work yet?"""


# -- options shared by the commands that talk to the API ----------------------


def _complete_region(incomplete: str) -> list[str]:
    """Tab candidates for --region: the known region ids (no network, no heavy imports)."""
    from kpstask.settings import KNOWN_REGIONS

    return [region for region in KNOWN_REGIONS if region.startswith(incomplete)]


Region = Annotated[
    str | None,
    typer.Option(
        "--region", "-r", metavar="REGION", show_default=False, autocompletion=_complete_region,
        help="Region id, e.g. cn-north-4. [env: KPSTASK_REGION, HW_REGION_NAME, OS_REGION_NAME]",
    ),
]  # fmt: skip
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint", metavar="URL", show_default=False,
        help="Base URL; overrides --region (proxies, private endpoints, a local simulator). "
        "http:// only to loopback hosts. [env: KPSTASK_ENDPOINT]",
    ),
]  # fmt: skip
AllowHttp = Annotated[
    bool,
    typer.Option("--allow-http", help="Allow plain http:// to a non-loopback host (credentials in clear text)."),
]
ProjectId = Annotated[
    str | None,
    typer.Option(
        "--project-id", "-p", metavar="ID", show_default=False,
        help="Project id, 32 hex characters. "
        "[env: KPSTASK_PROJECT_ID, HUAWEICLOUD_SDK_PROJECT_ID, HW_PROJECT_ID]",
    ),
]  # fmt: skip
TokenFile = Annotated[
    str | None,
    typer.Option(
        "--token-file", metavar="PATH", show_default=False,
        help="Read the IAM token from PATH (- for stdin).",
    ),
]  # fmt: skip
TokenValue = Annotated[
    str | None,
    typer.Option(
        "--token", metavar="TOKEN", show_default=False,
        help="The IAM token itself. Visible in process lists and shell history: "
        "prefer --token-file or the environment. [env: KPSTASK_TOKEN, HW_AUTH_TOKEN, OS_AUTH_TOKEN]",
    ),
]  # fmt: skip


def _complete_profile(incomplete: str) -> list[str]:
    """Tab candidates for --profile: the tables of the config file (read locally, nothing else)."""
    from kpstask.config import profile_names

    return [name for name in profile_names(os.environ) if name.startswith(incomplete)]


SecretKeyFile = Annotated[
    str | None,
    typer.Option(
        "--secret-key-file", metavar="PATH", show_default=False,
        help="Read the AK/SK secret key from PATH (- for stdin). "
        "[env: KPSTASK_SECRET_KEY, HUAWEICLOUD_SDK_SK, HW_SECRET_KEY]",
    ),
]  # fmt: skip
PasswordFile = Annotated[
    str | None,
    typer.Option(
        "--password-file", metavar="PATH", show_default=False,
        help="Read the IAM password from PATH (- for stdin). [env: KPSTASK_PASSWORD, HW_USER_PASSWORD]",
    ),
]  # fmt: skip
IamEndpoint = Annotated[
    str | None,
    typer.Option(
        "--iam-endpoint", metavar="URL", show_default=False,
        help="IAM for password logins (default: the region's). [env: HUAWEICLOUD_SDK_IAM_ENDPOINT]",
    ),
]  # fmt: skip
ProfileName = Annotated[
    str | None,
    typer.Option(
        "--profile", metavar="NAME", show_default=False, autocompletion=_complete_profile,
        help="Profile of the config file to use (default: default). [env: KPSTASK_PROFILE]",
    ),
]  # fmt: skip
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the IAM token cache.")]


Output = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", case_sensitive=False, help="Result format on stdout."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on stdout; the exit code says it all.")]
NoColor = Annotated[bool, typer.Option("--no-color", help="No colour, even on a terminal. [env: NO_COLOR]")]
RequestTimeout = Annotated[
    float,
    typer.Option("--request-timeout", metavar="SECONDS", min=0.1, max=300.0,
                 help="Connect and read timeout of each request."),
]  # fmt: skip
Retries = Annotated[
    int,
    typer.Option("--retries", metavar="N", min=0, max=10,
                 help="Retries after a connection error, timeout, 429, 502, 503 or 504."),
]  # fmt: skip
DebugFlag = Annotated[
    bool,
    typer.Option("--debug", help="Log each request and response on stderr (secrets masked); tracebacks on bugs."),
]


Timeout = Annotated[
    str,
    typer.Option("--timeout", metavar="DURATION",
                 help="Overall deadline of a wait: 90, 90s, 5m, 1h; 0 = no limit."),
]  # fmt: skip
Interval = Annotated[
    str | None,
    typer.Option("--interval", metavar="DURATION", show_default=False,
                 help="Poll each task at this fixed interval (at least 1s) instead of the adaptive schedule."),
]  # fmt: skip
NotFoundGrace = Annotated[
    str,
    typer.Option("--not-found-grace", metavar="DURATION",
                 help="Keep asking about a task that is not found for this long (it may be new)."),
]  # fmt: skip
MaxRate = Annotated[
    float,
    typer.Option("--max-rate", metavar="PER_SECOND", min=0.1, max=1000.0,
                 help="At most this many requests per second, all tasks together."),
]  # fmt: skip
Concurrency = Annotated[
    int, typer.Option("--concurrency", metavar="N", min=1, max=64, help="Requests in flight at once.")
]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Stop waiting at the first failed task.")]
Progress = Annotated[
    ProgressMode,
    typer.Option("--progress", case_sensitive=False,
                 help="Progress on stderr: auto = live on a terminal, plain lines elsewhere."),
]  # fmt: skip
Heartbeat = Annotated[
    str,
    typer.Option("--heartbeat", metavar="DURATION",
                 help="With plain progress, a line this often while nothing changes; 0 = never."),
]  # fmt: skip
TaskIds = Annotated[
    list[str],
    typer.Argument(metavar="TASK_ID...", help="Task ids, as returned by the KPS APIs; - reads them from stdin."),
]
WAIT_OPTIONS = ("timeout", "interval", "not_found_grace", "max_rate", "concurrency", "fail_fast", "progress",
                "heartbeat")  # fmt: skip


_CONNECTION: dict[str, tuple[Any, Any]] = {  # parameter -> (annotation, default)
    "region": (Region, None),
    "endpoint": (Endpoint, None),
    "allow_http": (AllowHttp, False),
    "project_id": (ProjectId, None),
    "token_file": (TokenFile, None),
    "token": (TokenValue, None),
    "secret_key_file": (SecretKeyFile, None),
    "password_file": (PasswordFile, None),
    "iam_endpoint": (IamEndpoint, None),
    "profile": (ProfileName, None),
    "no_cache": (NoCache, False),
}


class with_connection:
    """Give a command the options that say where requests go and as whom; it gets them
    as one `target: ConnectionFlags` (without timeout and retries, which it sets itself).
    typer reads the parameters from `__signature__`, so they are declared once, here; and
    only when typer builds the command, which `_build_only` limits to the one being run."""

    def __init__(self, func: Callable[..., int]) -> None:
        # What typer reads off a command: its name, help and module; __wrapped__ for get_type_hints' globals.
        self.__name__, self.__qualname__ = func.__name__, func.__qualname__
        self.__doc__, self.__module__, self.__wrapped__ = func.__doc__, func.__module__, func
        self._func = func
        self._signature: Any = None

    def __call__(self, **values: Any) -> int:
        given = {name: values.pop(name) for name in _CONNECTION}
        given["project"] = given.pop("project_id")
        return self._func(target=_flags(**given), **values)

    @property
    def __signature__(self) -> Any:
        if self._signature is None:
            import inspect

            # ConnectionFlags is only imported for type checking; the `target` annotation is dropped anyway.
            own = inspect.signature(self._func, eval_str=True, locals={"ConnectionFlags": Any})
            params = [param for name, param in own.parameters.items() if name != "target"]
            params += [
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                for name, (annotation, default) in _CONNECTION.items()
            ]
            self._signature = own.replace(parameters=params)
        return self._signature

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]  # typing.get_type_hints reads it
        return {param.name: param.annotation for param in self.__signature__.parameters.values()}


def _wait_options(
    *, timeout: str, interval: str | None, not_found_grace: str, max_rate: float, concurrency: int, fail_fast: bool
) -> WaitOptions:
    from kpstask.durations import parse_duration
    from kpstask.wait import MIN_INTERVAL_S, WaitOptions

    deadline = parse_duration(timeout, "--timeout")
    every = parse_duration(interval, "--interval") if interval is not None else None
    if every is not None and every < MIN_INTERVAL_S:
        raise UsageError(f"--interval: at least {MIN_INTERVAL_S:g}s per task")
    return WaitOptions(
        timeout_s=deadline or None,
        interval_s=every,
        not_found_grace_s=parse_duration(not_found_grace, "--not-found-grace"),
        concurrency=concurrency,
        max_rate=max_rate,
        fail_fast=fail_fast,
    )


def _query(ids: list[str], *, wait: bool, flags: ConnectionFlags, display: Display,
           options: WaitOptions | None, all_running: bool = False) -> int:  # fmt: skip
    """Shared by `get` and `wait`: check everything, then ask (and maybe wait)."""
    from kpstask.actions import resolve_connection, run_get, run_wait, running_ids, task_ids

    tasks = task_ids(ids, flags.token_file, flags.secret_key_file, flags.password_file)
    if not tasks and not all_running:
        raise UsageError("no task ids given", hint="give TASK_IDs, - to read them from stdin, or --all-running")
    connection = resolve_connection(flags)
    if all_running:
        running = running_ids(connection)
        shown = f": {' '.join(running[:10])}{' ...' if len(running) > 10 else ''}" if running else ""
        say("info", f"{len(running)} task(s) running{shown}")
        tasks = list(dict.fromkeys([*tasks, *running]))
        if not tasks:
            return ExitCode.OK
    if wait and options is not None:
        return run_wait(connection, tasks, display, options)
    return run_get(connection, tasks, display)


def _flags(**values: Any) -> ConnectionFlags:
    from kpstask.actions import ConnectionFlags

    return ConnectionFlags(**values)


@app.command(epilog=EXIT_CODES_HELP)
@with_connection
def get(  # noqa: PLR0917 - typer passes options as arguments
    target: ConnectionFlags,
    ctx: typer.Context,
    task_ids: TaskIds,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Wait until every task is finished (as `kpstask wait`).")
    ] = False,
    output: Output = OutputFormat.HUMAN,
    quiet: Quiet = False,
    no_color: NoColor = False,
    request_timeout: RequestTimeout = 5.0,
    retries: Retries = 3,
    timeout: Timeout = "30m",
    interval: Interval = None,
    not_found_grace: NotFoundGrace = "30s",
    max_rate: MaxRate = 10.0,
    concurrency: Concurrency = 8,
    fail_fast: FailFast = False,
    progress: Progress = ProgressMode.AUTO,
    heartbeat: Heartbeat = "60s",
    debug_flag: DebugFlag = False,
) -> int:
    """Show the status of one or more key-pair tasks (with --wait, wait for them).

    Results go to stdout in the order given; errors and warnings go to stderr.
    """
    RUN.debug = debug_flag
    from typer._click.core import ParameterSource

    if not wait:
        given = [name for name in WAIT_OPTIONS if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise UsageError(f"{flags}: only used when waiting", hint="add --wait, or use `kpstask wait`")
    elif ctx.get_parameter_source("retries") is not ParameterSource.DEFAULT:
        raise UsageError("--retries: not used when waiting", hint="a wait retries transient errors until --timeout")
    options = (
        _wait_options(
            timeout=timeout,
            interval=interval,
            not_found_grace=not_found_grace,
            max_rate=max_rate,
            concurrency=concurrency,
            fail_fast=fail_fast,
        )
        if wait
        else None
    )
    return _query(
        task_ids,
        wait=wait,
        flags=target._replace(timeout_s=request_timeout, retries=retries),
        display=_display(output, quiet, no_color, progress, heartbeat),
        options=options,
    )


@app.command("wait", epilog=EXIT_CODES_HELP)
@with_connection
def wait_command(  # noqa: PLR0917 - typer passes options as arguments
    target: ConnectionFlags,
    task_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TASK_ID...]",
            show_default=False,
            help="Task ids, as returned by the KPS APIs; - reads them from stdin.",
        ),
    ] = None,
    all_running: Annotated[
        bool, typer.Option("--all-running", help="Also wait for every task running when the wait starts.")
    ] = False,
    output: Output = OutputFormat.HUMAN,
    quiet: Quiet = False,
    no_color: NoColor = False,
    request_timeout: RequestTimeout = 5.0,
    timeout: Timeout = "30m",
    interval: Interval = None,
    not_found_grace: NotFoundGrace = "30s",
    max_rate: MaxRate = 10.0,
    concurrency: Concurrency = 8,
    fail_fast: FailFast = False,
    progress: Progress = ProgressMode.AUTO,
    heartbeat: Heartbeat = "60s",
    debug_flag: DebugFlag = False,
) -> int:
    """Wait until key-pair tasks are finished; the exit code says how they ended.

    Polls each task (adaptively, or every --interval) until SUCCESS_* or FAILED_*,
    tolerating transient errors, until --timeout. Progress goes to stderr; the final
    result to stdout.
    """
    RUN.debug = debug_flag
    return _query(
        task_ids or [],
        wait=True,
        all_running=all_running,
        flags=target._replace(timeout_s=request_timeout, retries=3),
        display=_display(output, quiet, no_color, progress, heartbeat),
        options=_wait_options(
            timeout=timeout,
            interval=interval,
            not_found_grace=not_found_grace,
            max_rate=max_rate,
            concurrency=concurrency,
            fail_fast=fail_fast,
        ),
    )


def _display(output: OutputFormat, quiet: bool, no_color: bool, progress: ProgressMode, heartbeat: str) -> Display:
    from kpstask.actions import Display
    from kpstask.durations import parse_duration

    return Display(output, quiet, no_color, progress, parse_duration(heartbeat, "--heartbeat"))


ServerFilter = Annotated[
    str | None, typer.Option("--server", metavar="ID", show_default=False, help="Only tasks on this server.")
]
ListLimit = Annotated[
    int | None,
    typer.Option("--limit", metavar="N", min=1, show_default=False, help="At most N tasks (default: every page)."),
]
PageSize = Annotated[int, typer.Option("--page-size", metavar="N", min=1, max=1000, help="Tasks asked for per page.")]


def _list(kind: str, flags: ConnectionFlags, display: Display, *, server: str | None, limit: int | None,
          page_size: int) -> int:  # fmt: skip
    from kpstask.actions import resolve_connection, run_list

    return run_list(resolve_connection(flags), kind, display, server=server, limit=limit, page_size=page_size)


@app.command(epilog=EXIT_CODES_HELP)
@with_connection
def running(  # noqa: PLR0917 - typer passes options as arguments
    target: ConnectionFlags,
    server: ServerFilter = None,
    limit: ListLimit = None,
    page_size: PageSize = 1000,
    output: Output = OutputFormat.HUMAN,
    quiet: Quiet = False,
    no_color: NoColor = False,
    request_timeout: RequestTimeout = 5.0,
    retries: Retries = 3,
    debug_flag: DebugFlag = False,
) -> int:
    """List the project's key-pair tasks in flight right now (every page of running-tasks).

    Exit 0 when listed, even when the list is empty.
    """
    RUN.debug = debug_flag
    flags = target._replace(timeout_s=request_timeout, retries=retries)
    display = _display(output, quiet, no_color, ProgressMode.NONE, "0")
    return _list("running", flags, display, server=server, limit=limit, page_size=page_size)


@app.command(epilog=EXIT_CODES_HELP)
@with_connection
def failed(  # noqa: PLR0917 - typer passes options as arguments
    target: ConnectionFlags,
    task_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TASK_ID...]", show_default=False, help="With --clear: the failed-task records to delete."
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Delete the records of the TASK_IDs given.")] = False,
    clear_all: Annotated[bool, typer.Option("--clear-all", help="Delete every failed-task record.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; needed when not on a terminal.")] = False,
    server: ServerFilter = None,
    limit: ListLimit = None,
    page_size: PageSize = 1000,
    output: Output = OutputFormat.HUMAN,
    quiet: Quiet = False,
    no_color: NoColor = False,
    request_timeout: RequestTimeout = 5.0,
    retries: Retries = 3,
    debug_flag: DebugFlag = False,
) -> int:
    """List the project's failed key-pair tasks, with their errors; or delete their records.

    `--clear TASK_ID...` or `--clear-all` delete records: asked on a terminal, --yes otherwise.
    """
    from kpstask.actions import resolve_connection, run_clear
    from kpstask.models import validate_task_id

    RUN.debug = debug_flag
    ids = [validate_task_id(task_id) for task_id in task_ids or []]
    if clear and clear_all:
        raise UsageError("--clear and --clear-all: choose one")
    if clear and not ids:
        raise UsageError("--clear needs the TASK_IDs whose records to delete", hint="or --clear-all for every one")
    if ids and not clear:
        raise UsageError("task ids are only taken with --clear", hint="kpstask failed --clear TASK_ID...")
    flags = target._replace(timeout_s=request_timeout, retries=retries)
    display = _display(output, quiet, no_color, ProgressMode.NONE, "0")
    if clear or clear_all:
        connection = resolve_connection(flags)
        return run_clear(connection, list(dict.fromkeys(ids)), clear_all, yes, display, server=server, limit=limit)
    return _list("failed", flags, display, server=server, limit=limit, page_size=page_size)


@app.command(epilog=EXIT_CODES_HELP)
@with_connection
def token(
    target: ConnectionFlags,
    show: Annotated[bool, typer.Option("--show", help="Print even when stdout is a terminal.")] = False,
    request_timeout: RequestTimeout = 5.0,
    debug_flag: DebugFlag = False,
) -> int:
    """Print a project-scoped IAM token from the configured credentials, for other tools.

    A password login asks IAM (or reuses the cached token); a configured token is printed
    as it is. Refuses to print to a terminal without --show.
    """
    from kpstask.actions import print_token

    RUN.debug = debug_flag
    flags = target._replace(timeout_s=request_timeout)
    return print_token(flags, show)


config_app = typer.Typer(
    cls=TyperGroup, help="The config file and its profiles.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(config_app, name="config")


@config_app.command("show")
@with_connection
def config_show(
    target: ConnectionFlags,
    output: Output = OutputFormat.HUMAN,
    debug_flag: DebugFlag = False,
) -> int:
    """Every resolved setting and where it came from (flag, environment variable, profile,
    default); secrets masked. Sends nothing. Exit 2 if something is missing or wrong."""
    import json

    from kpstask.actions import settings_report
    from kpstask.console import stdout

    RUN.debug = debug_flag
    flags = target
    rows, ok = settings_report(flags)
    out = stdout()
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        if output is OutputFormat.JSON:
            out.write(json.dumps({"setting": name, "value": value, "source": source}) + "\n")
        elif output is OutputFormat.TSV:
            out.write(f"{name}\t{value}\t{source}\n")
        else:
            out.write(f"{name.ljust(width)}  {value}" + (f"  ({source})" if source else "") + "\n")
    return ExitCode.OK if ok else ExitCode.USAGE


@app.command()
def completion(
    shell: Annotated[Shell, typer.Argument(case_sensitive=False, help="bash, zsh, fish or powershell.")],
) -> int:
    """Print the Tab-completion script for a shell (see the README for where to put it)."""
    from typer._completion_shared import get_completion_script

    sys.stdout.write(completion_script(shell, get_completion_script) + "\n")
    return ExitCode.OK


def completion_script(shell: Shell, make: Callable[..., str]) -> str:
    """The script for one shell; the files in completions/ are exactly this."""
    script = make(prog_name="kpstask", complete_var="_KPSTASK_COMPLETE", shell=shell.value)
    if shell is Shell.ZSH:
        # typer's script only registers itself, so from an fpath file the first Tab did
        # nothing; autoloaded as _kpstask it now completes at once, and sourcing still works.
        script = script.replace(
            "compdef _kpstask_completion kpstask",
            'if [[ "${funcstack[1]}" == "_kpstask" ]]; then\n'
            '  _kpstask_completion "$@"\n'
            "else\n"
            "  compdef _kpstask_completion kpstask\n"
            "fi",
        )
    return script


def main() -> None:
    """Console-script entry point."""
    import signal

    # CI runners stop a step with SIGTERM: end like Ctrl-C, display restored, exit 130.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # An interrupt landing inside a library's finalizer would print "Exception ignored in ..."
    # with a traceback; nothing there is the user's to act on, so only --debug shows it.
    sys.unraisablehook = _unraisable
    if "_KPSTASK_COMPLETE" not in os.environ:
        _build_only(next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None))
    app()


def _unraisable(info: Any) -> None:
    if RUN.debug:
        say("debug", f"ignored in {info.object!r}: {info.exc_type.__name__}: {info.exc_value}")


def _build_only(name: str | None) -> None:
    """Register just the command being run: typer builds every command's parameters
    at every start, which costs more than 10 ms that `kpstask get` need not pay."""
    if name is None:
        return
    commands = [info for info in _EVERY_COMMAND if _command_name(info) == name]
    groups = [info for info in _EVERY_GROUP if info.name == name]
    if commands or groups:
        app.registered_commands, app.registered_groups = commands, groups


def _command_name(info: Any) -> str:
    return str(info.name or info.callback.__name__.replace("_", "-"))


@app.command()
def simulate(
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 8686,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            metavar="FILE",
            show_default=False,
            help="Tasks and faults, JSON or TOML (default: a demo set).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not log each request on stderr.")] = False,
) -> int:
    """Run a local stand-in for the KPS API, with demo tasks and injectable faults.

    Prints shell lines that point kpstask at it, then `# ready`. Stops on Ctrl-C or SIGTERM.
    """
    import shlex
    import signal
    import threading

    from kpstask.simulator import Simulator, default_scenario, load_scenario

    plan = load_scenario(scenario) if scenario else default_scenario()
    try:
        sim = Simulator(plan, host=host, port=port, log=None if quiet else lambda line: say("simulator", line))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}", hint="--port 0 picks a free port") from None
    url = sim.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out = sys.stdout
    out.write(f"# kpstask simulator listening on {url}\n")
    for name, value in (
        ("KPSTASK_ENDPOINT", url),
        ("KPSTASK_PROJECT_ID", plan.project_id),
        ("KPSTASK_TOKEN", plan.token),
    ):
        out.write(f"export {name}={shlex.quote(value)}\n")
    out.write(f"# tasks: {' '.join(task.task_id for task in plan.tasks) or '(none)'}\n# ready\n")
    out.flush()
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    say("simulator", "stopped")
    return ExitCode.OK


DEMO_TASKS = ("demo-bind-ok", "demo-replace-ok", "demo-unbind-failed", "demo-reset-ok", "demo-flaky")


@app.command()
def demo(no_color: NoColor = False) -> int:
    """Try kpstask with no account and no network: a local simulator, demo tasks, the real commands."""

    from kpstask.simulator import Simulator, default_scenario

    plan = default_scenario()
    with Simulator(plan, port=0) as sim:
        args = ["wait", *DEMO_TASKS, "--endpoint", sim.url, "--project-id", plan.project_id]
        sys.stderr.write(f"kpstask demo: a local KPS simulator is serving demo tasks at {sim.url}\n")
        sys.stderr.write(f"$ kpstask {' '.join(args)}\n")
        sys.stderr.flush()
        code = _run_nested([*args, "--token", plan.token, *(["--no-color"] if no_color else [])])
    meaning = {0: "every task succeeded", 1: "a task failed", 3: "a task is not finished yet"}.get(code)
    if meaning is None:
        return code
    sys.stderr.write(
        f"kpstask demo: `kpstask wait` exited {code} ({meaning}); scripts branch on that code.\n"
        "kpstask demo: run `kpstask simulate` to keep a simulator up and try any command against it.\n"
    )
    return ExitCode.OK


def _run_nested(args: list[str]) -> int:
    """Run a kpstask command line in this process, through the real parser and error mapping."""
    app.registered_commands, app.registered_groups = list(_EVERY_COMMAND), list(_EVERY_GROUP)
    command = typer.main.get_command(app)
    return int(command.main(args=args, prog_name="kpstask", standalone_mode=False))


# Everything registered above, for `_build_only` to choose from and `_run_nested` to restore.
_EVERY_COMMAND = list(app.registered_commands)
_EVERY_GROUP = list(app.registered_groups)
