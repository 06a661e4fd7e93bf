"""The command line: parse, resolve settings, ask the client, render.

Every failure becomes an exit code in one place, `KpsGroup.main`. requests
and rich are imported only where they are used, so `--help`, `--version` and
Tab completion stay fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TextIO

import typer

# typer 0.26+ ships its own click; its exceptions are what parsing raises.
from typer._click import core as click_core
from typer._click import exceptions as click_exceptions
from typer.core import TyperGroup

from kpstask import __version__
from kpstask.errors import AuthError, ExitCode, KpsError, UsageError, worst
from kpstask.models import TaskResult, validate_task_id
from kpstask.render import OutputFormat
from kpstask.text import one_line

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


@dataclass
class RunState:
    """What the error mapping needs to know about the command being run."""

    debug: bool = False
    secrets: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.debug = False
        self.secrets.clear()

    def redact(self, text: str) -> str:
        # Short values are skipped: masking "abc" would mangle ordinary words.
        for secret in self.secrets:
            if len(secret) >= 8:
                text = text.replace(secret, "***")
        return text


RUN = RunState()


class RedactingWriter:
    """Stdout as the commands see it: a secret echoed back by a server is masked."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(RUN.redact(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def stdout() -> TextIO:
    return RedactingWriter(sys.stdout)  # type: ignore[return-value]


def say(level: str, text: str) -> None:
    """One line on stderr: `kpstask: error: ...`. Secrets never pass."""
    sys.stderr.write(f"kpstask: {level}: {RUN.redact(one_line(text, 2000))}\n")
    sys.stderr.flush()


def warn(text: str) -> None:
    say("warning", text)


def debug(text: str) -> None:
    if RUN.debug:
        say("debug", text)


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

Region = Annotated[
    str | None,
    typer.Option(
        "--region", "-r", metavar="REGION", show_default=False,
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


@dataclass(frozen=True)
class Connection:
    """Everything needed to reach the API, resolved from flags and the environment."""

    base_url: str
    project_id: str
    auth_headers: dict[str, str]
    timeout_s: float
    retries: int


def resolve_connection(
    *,
    region: str | None,
    endpoint: str | None,
    allow_http: bool,
    project: str | None,
    token_file: str | None,
    token: str | None,
    timeout_s: float,
    retries: int,
) -> Connection:
    """Flags first, then the environment; a usage error names what is missing."""
    from kpstask import auth, settings

    env = os.environ
    url = settings.base_url(
        settings.pick(region, "--region", env, settings.REGION_ENV),
        settings.pick(endpoint, "--endpoint", env, settings.ENDPOINT_ENV),
        allow_http,
        warn,
    )
    project_id = settings.project_id(settings.pick(project, "--project-id", env, settings.PROJECT_ENV))
    credential = auth.resolve_token(token_file, token, env)
    RUN.secrets.append(credential.value)
    debug(f"endpoint {url}, project {project_id}, token from {credential.source}")
    return Connection(url, project_id, credential.headers(), timeout_s, retries)


def query_tasks(connection: Connection, task_ids: list[str], emit: Callable[[TaskResult], None]) -> list[TaskResult]:
    """One request per task, in order. Refused credentials stop the rest:
    every further request would be refused too, and the gateway locks a key
    after repeated failures."""
    from kpstask.client import KpsClient, RetryPolicy

    results: list[TaskResult] = []
    with KpsClient(
        connection.base_url,
        connection.project_id,
        connection.auth_headers,
        timeout_s=connection.timeout_s,
        retry=RetryPolicy(retries=connection.retries),
        debug=debug if RUN.debug else None,
    ) as client:
        for index, task_id in enumerate(task_ids):
            try:
                result = TaskResult(task_id, task=client.get_task(task_id))
            except KpsError as exc:
                result = TaskResult(task_id, error=exc)
            results.append(result)
            emit(result)
            if isinstance(result.error, AuthError) and index + 1 < len(task_ids):
                warn(f"{len(task_ids) - index - 1} remaining task(s) not queried: credentials refused")
                break
    return results


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


@app.command(epilog=EXIT_CODES_HELP)
def get(  # noqa: PLR0917 - typer passes options as arguments
    task_ids: Annotated[list[str], typer.Argument(metavar="TASK_ID...", help="Task ids, as returned by the KPS APIs.")],
    region: Region = None,
    endpoint: Endpoint = None,
    allow_http: AllowHttp = False,
    project_id: ProjectId = None,
    token_file: TokenFile = None,
    token: TokenValue = None,
    output: Output = OutputFormat.HUMAN,
    quiet: Quiet = False,
    no_color: NoColor = False,
    request_timeout: RequestTimeout = 10.0,
    retries: Retries = 3,
    debug_flag: DebugFlag = False,
) -> int:
    """Show the status of one or more key-pair tasks.

    Results go to stdout in the order given; errors and warnings go to stderr.
    """
    RUN.debug = debug_flag
    ids = _unique([validate_task_id(task_id) for task_id in task_ids])
    connection = resolve_connection(
        region=region,
        endpoint=endpoint,
        allow_http=allow_http,
        project=project_id,
        token_file=token_file,
        token=token,
        timeout_s=request_timeout,
        retries=retries,
    )
    emit = _emitter(output, quiet)
    results = query_tasks(connection, ids, emit)
    if output is OutputFormat.HUMAN and not quiet:
        from kpstask.render import human_table, make_console

        human_table(results, make_console(stdout(), no_color))
    return worst(result.exit_code for result in results)


def _emitter(output: OutputFormat, quiet: bool) -> Callable[[TaskResult], None]:
    """Errors go to stderr at once; JSON and TSV lines stream to stdout as they come."""
    from kpstask.render import json_line, tsv_line

    line = {OutputFormat.JSON: json_line, OutputFormat.TSV: tsv_line}.get(output)
    out = stdout()

    def emit(result: TaskResult) -> None:
        if result.error is not None:
            say("error", f"task {result.task_id}: {result.error}")
        if line is not None and not quiet:
            out.write(line(result) + "\n")
            out.flush()

    return emit


def main() -> None:
    """Console-script entry point."""
    app()


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
    import signal
    import threading
    import time

    from kpstask.simulator import Simulator, default_scenario, load_scenario

    now = time.monotonic()
    plan = load_scenario(scenario, now) if scenario else default_scenario(now)
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
    out.write(f"export KPSTASK_ENDPOINT={url}\nexport KPSTASK_PROJECT_ID={plan.project_id}\n")
    out.write(f"export KPSTASK_TOKEN={plan.token}\n")
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
    import time

    from kpstask.simulator import Simulator, default_scenario

    plan = default_scenario(time.monotonic())
    with Simulator(plan, port=0) as sim:
        args = ["get", *DEMO_TASKS, "--endpoint", sim.url, "--project-id", plan.project_id]
        sys.stderr.write(f"kpstask demo: a local KPS simulator is serving demo tasks at {sim.url}\n")
        sys.stderr.write(f"$ kpstask {' '.join(args)}\n")
        sys.stderr.flush()
        code = _run_nested([*args, "--token", plan.token, *(["--no-color"] if no_color else [])])
    meaning = {0: "every task succeeded", 1: "a task failed", 3: "a task is not finished yet"}.get(code)
    if meaning is None:
        return code
    sys.stderr.write(
        f"kpstask demo: `kpstask get` exited {code} ({meaning}); scripts branch on that code.\n"
        "kpstask demo: run `kpstask simulate` to keep a simulator up and try any command against it.\n"
    )
    return ExitCode.OK


def _run_nested(args: list[str]) -> int:
    """Run a kpstask command line in this process, through the real parser and error mapping."""
    command = typer.main.get_command(app)
    return int(command.main(args=args, prog_name="kpstask", standalone_mode=False))
