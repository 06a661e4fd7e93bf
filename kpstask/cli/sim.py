"""`kpstask simulate` and `kpstask demo`: a local stand-in for the KPS API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kpstask.cli.options import grouped
from kpstask.cli.root import Reported, app
from kpstask.context import Run
from kpstask.errors import ExitCode, UsageError
from kpstask.i18n import N_, _

if TYPE_CHECKING:
    from kpstask.simulator import Scenario

# The client's own bound on a list (models.MAX_LISTED), so `running` and `wait --all-running`
# take every generated task.
MAX_GENERATED = 100_000
GENERATED_FAIL_EVERY = 10  # task-0010, task-0020, ... fail
GENERATED_READY_S = 1.0
GENERATED_RUNNING_S = (5.0, 60.0)  # running times spread evenly over this range


@app.command()
@grouped
def simulate(
    run: Run,
    *,
    host: Annotated[str, typer.Option("--host", metavar="HOST", help=N_("Address to listen on."))] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help=N_("Port; 0 picks a free one."))
    ] = 8686,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            metavar="FILE",
            show_default=False,
            help=N_("Tasks and faults, JSON or TOML (default: a demo set)."),
        ),
    ] = None,
    tasks: Annotated[
        int | None,
        typer.Option(
            "--tasks",
            metavar="N",
            min=1,
            max=MAX_GENERATED,
            show_default=False,
            help=N_("N generated tasks, task-0001 on, instead of the demo set."),
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=N_("Do not log each request on stderr."))] = False,
) -> int:
    """Run a local stand-in for the KPS API, with demo tasks and injectable faults.

    Prints shell lines that point kpstask at it, then `# ready`. Stops on Ctrl-C or SIGTERM.
    """
    import signal
    import threading

    from kpstask.simulator import Simulator

    plan = _plan(scenario, tasks)
    try:
        sim = Simulator(plan, host=host, port=port, log=None if quiet else lambda line: run.say("simulator", line))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(
            _("cannot listen on {host}:{port}: {reason}").format(host=host, port=port, reason=reason),
            hint=_("--port 0 picks a free port"),
        ) from None
    url = sim.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _say_ready(run, url, plan)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    run.say("simulator", _("stopped"))
    return ExitCode.OK


def _say_ready(run: Run, url: str, plan: Scenario) -> None:
    """The shell lines that point kpstask at the simulator, then `# ready`: a file scripts source
    and wait on (`until grep -qs '^# ready' sim.env`), so the same in every language."""
    import shlex

    out = run.stdout
    out.write(f"# kpstask simulator listening on {url}\n")
    for name, value in (
        ("KPSTASK_ENDPOINT", url),
        ("KPSTASK_PROJECT_ID", plan.project_id),
        ("KPSTASK_TOKEN", plan.token),
    ):
        out.write(f"export {name}={shlex.quote(value)}\n")
    out.write(f"# tasks: {tasks_line(plan)}\n# ready\n")
    out.flush()


def _plan(scenario: str | None, tasks: int | None) -> Scenario:
    """What `simulate` serves: a scenario file, N generated tasks, or the demo set."""
    from kpstask.simulator import default_scenario, load_scenario

    if scenario is not None and tasks is not None:
        raise UsageError(
            _("--tasks and --scenario cannot be used together"), hint=_("a scenario file lists its own tasks")
        )
    if scenario is not None:
        return load_scenario(scenario)
    return generated_scenario(tasks) if tasks is not None else default_scenario()


def generated_scenario(count: int) -> Scenario:
    """`--tasks N`: task-0001 ... task-N, the four operations in turn, every tenth failing, each
    READY for 1 s then RUNNING for 5-60 s (spread evenly, in an order shuffled the same way every
    run for the same N); the demo set's clock and credentials. No scenario file needed."""
    import random

    from kpstask.simulator import Scenario, default_scenario
    from kpstask.simulator.scenario import OPERATIONS

    low, high = GENERATED_RUNNING_S
    running = [round(low + (high - low) * k / max(count - 1, 1), 1) for k in range(count)]
    random.Random(count).shuffle(running)  # noqa: S311 - a repeatable order, not a secret
    width = max(4, len(str(count)))
    tasks = [
        {
            "id": f"task-{n:0{width}d}",
            "operation": OPERATIONS[(n - 1) % len(OPERATIONS)],
            "outcome": "failed" if n % GENERATED_FAIL_EVERY == 0 else "success",
            "ready_s": GENERATED_READY_S,
            "running_s": running[n - 1],
            "server_id": f"c9aa197b-a6b6-4c33-b3a6-{n:012d}",
            "server_name": f"ecs-{n:0{width}d}",
        }
        for n in range(1, count + 1)
    ]
    demo = default_scenario()
    spec = {"clock": demo.clock, "tasks": tasks, "access_keys": demo.access_keys, "users": demo.users}
    return Scenario.parse(spec)


def tasks_line(plan: Scenario) -> str:
    """The task ids, one that never finishes marked (the mark is a separate word: ids copy whole)."""
    words = [f"{task.task_id} (never finishes)" if task.never_finishes else task.task_id for task in plan.tasks]
    return " ".join(words) or "(none)"


DEMO_TASKS = ("demo-bind-ok", "demo-replace-ok", "demo-unbind-failed", "demo-reset-ok", "demo-flaky")
NARRATION_WIDTH = 80  # demo's own lines fit a terminal of 80 columns; ids and URLs are never split
MEANING = {0: N_("every task succeeded"), 1: N_("a task failed"), 3: N_("a task is not finished yet")}
DEMO = "kpstask demo: "  # the narration's lines start so


@app.command()
@grouped
def demo(
    run: Run,
    *,
    no_color: Annotated[bool, typer.Option("--no-color", help=N_("No colour, even on a terminal."))] = False,
    keyless: Annotated[
        bool,
        typer.Option("--keyless", help=N_("No stored secret: as a GitHub Actions job, with an OIDC ID token.")),
    ] = False,
    tasks: Annotated[
        int | None,
        typer.Option(
            "--tasks",
            metavar="N",
            min=1,
            max=MAX_GENERATED,
            show_default=False,
            help=N_("Wait on N generated tasks (wait --all-running) instead of the demo set."),
        ),
    ] = None,
) -> int:
    """Try kpstask with no account and no network: a local simulator, demo tasks, the real commands."""

    from kpstask.simulator import Simulator

    plan, targets, what = _demo_plan(tasks)
    with Simulator(plan, port=0) as sim:
        args = ["wait", *targets, "--endpoint", sim.url, "--project-id", plan.project_id]
        run.raw_stderr.write(DEMO + _("a KPS simulator serves {what} at {url}").format(what=what, url=sim.url) + "\n")
        nested, secret = run, ["--token", plan.token]
        if keyless:
            nested, secret = _as_github_job(run, sim.url, plan.keyless.request_token), []
            args += ["--idp-id", plan.keyless.idp_id, "--iam-endpoint", sim.url, "--no-cache"]
        run.raw_stderr.write("".join(f"{line}\n" for line in command_lines(["kpstask", *args])))
        run.raw_stderr.flush()
        code = _run_nested(nested, [*args, *secret, *(["--no-color"] if no_color else [])])
    meaning = MEANING.get(code)
    if meaning is None:
        # Ctrl-C: the nested wait has said it already (`interrupted: ...` above its table); a
        # SIGTERM or SIGHUP still gets its line, which says which.
        return Reported(code) if code == ExitCode.INTERRUPTED else code
    lines = (
        _("`kpstask wait` exited {code} ({meaning});").format(code=code, meaning=_(meaning)),
        _("scripts branch on that code."),
        _("run `kpstask simulate` to keep one up and try any command on it."),
    )
    run.raw_stderr.write("".join(f"{DEMO}{line}\n" for line in lines))
    return ExitCode.OK


def _demo_plan(tasks: int | None) -> tuple[Scenario, list[str], str]:
    """The demo's tasks, what it waits on, and how it names them: N generated tasks are taken
    from the running list (their ids would fill the narrated command line), else the demo set."""
    from kpstask.simulator import default_scenario

    if tasks is None:
        return default_scenario(), list(DEMO_TASKS), _("demo tasks")
    return generated_scenario(tasks), ["--all-running"], _("{count} generated tasks").format(count=tasks)


def command_lines(words: list[str], width: int = NARRATION_WIDTH) -> list[str]:
    """`$ kpstask wait ...` as a shell would take it, in lines of at most `width` columns: broken
    with ` \\` between arguments (an option with its value), never inside one."""
    import shlex

    units: list[str] = []
    for word in map(shlex.quote, words):
        if units and units[-1].startswith("--") and " " not in units[-1] and not word.startswith("--"):
            units[-1] += f" {word}"  # an option and its value stay together
        else:
            units.append(word)
    lines = ["$"]
    for unit in units:
        if len(lines[-1]) + 1 + len(unit) + len(" \\") > width and lines[-1].strip() not in ("$", ""):
            lines[-1] += " \\"
            lines.append("   ")
        lines[-1] += f" {unit}"
    return lines


def _as_github_job(run: Run, url: str, request_token: str) -> Run:
    """The run, in a GitHub Actions job allowed to ask for an ID token (GitHub's two variables,
    pointing at the simulator's token endpoint). Said on stderr: the demo shows what it sets."""
    job = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/_github/idtoken?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
    }
    lines = (
        _("no stored secret, as a GitHub Actions job with id-token: write:"),
        _("an ID token from GitHub (the simulator here), exchanged at IAM"),
    )
    run.raw_stderr.write("".join(f"{DEMO}{line}\n" for line in lines))
    nested = Run(
        stdin=run.stdin,
        stdout=run.raw_stdout,
        stderr=run.raw_stderr,
        env={**run.env, **job},
        wall=run.wall,
        clock=run.clock,
        sleep=run.sleep,
    )
    nested.debug_on = run.debug_on
    return nested


def _run_nested(run: Run, args: list[str]) -> int:
    """Run a kpstask command line in this process, through the real parser. Its errors and an
    interrupt it did not handle itself are left to demo's own mapping (`run_mapped`), so each is
    reported once; what it returns (130 after its own `interrupted: ...`) is demo's to say."""
    from typer.core import TyperGroup

    from kpstask.cli import load

    command = typer.main.get_command(load())
    assert isinstance(command, TyperGroup)  # the app's KpsGroup
    # Not its `main`, which maps (and reports) every outcome itself, and typer's wrapper turns
    # an unhandled Ctrl-C into a bare 130: the context and the invocation, as click's main does.
    with command.make_context("kpstask", args, obj=run) as ctx:
        return int(command.invoke(ctx) or 0)
