"""`get` and `wait`: ask about tasks (once, or until they are finished) and put
the results through the output boundary. `get --wait` is `wait`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from kpstask import connect
from kpstask.choices import Display, OutputFormat, Pace, ProgressMode, WaitOptions
from kpstask.errors import AuthError, ExitCode, UsageError, interrupt_code, worst
from kpstask.failures import explained, unexplained
from kpstask.i18n import _
from kpstask.models import TaskResult, ids_from_text, validate_task_id
from kpstask.output import Renderer, hush, renderer

if TYPE_CHECKING:
    from kpstask.api.client import KpsClient
    from kpstask.context import Run
    from kpstask.models import Lister
    from kpstask.output.progress import Progress
    from kpstask.wait.asking import Asker, Watch
    from kpstask.wait.engine import WaitEngine
    from kpstask.wait.events import Event
    from kpstask.wait.resultstream import ResultStream

MAX_STDIN_BYTES = 10 * 1024 * 1024
STEP_SUMMARY = "GITHUB_STEP_SUMMARY"  # GitHub Actions' job summary file (see `stepsummary`)


def out_for(run: Run, display: Display) -> Renderer:
    return renderer(run, display.output, quiet=display.quiet, no_color=display.no_color)


def read_ids(run: Run, values: Sequence[str], stdin_taken: bool) -> list[str]:
    """Validated ids, `-` replaced by the ids on stdin, duplicates dropped."""
    ids: list[str] = []
    for value in values:
        if value != "-":
            ids.append(validate_task_id(value))
            continue
        if stdin_taken:
            raise UsageError(_("standard input cannot hold both a secret (--...-file -) and task ids (-)"))
        if run.stdin_isatty:
            raise UsageError(_("task id '-' reads ids from standard input, which is a terminal; pipe them in"))
        text = run.stdin.read(MAX_STDIN_BYTES + 1)
        if len(text) > MAX_STDIN_BYTES:
            raise UsageError(_("task ids on stdin: more than 10 MiB"))
        found = ids_from_text(text)
        if not found:
            raise UsageError(_("no task ids given (stdin was empty)"))
        ids.extend(validate_task_id(task_id) for task_id in found)
    return list(dict.fromkeys(ids))


def run_get(run: Run, target: connect.Target, ids: list[str], display: Display, pace: Pace) -> int:
    """One request per task, several at a time; results in the order given, JSON and TSV
    lines streaming as answers come (from a failed task on, they wait for its reason).
    Ctrl-C, SIGTERM or SIGHUP prints what is known (`_interrupted`)."""
    from kpstask.output.getprogress import counting

    got = Got(ids)
    with counting(run, display, len(ids)) as line:
        out = out_for(run, display)  # first: `-q` holds from here on
        try:
            _ask_all(run, target, got, out=out, line=line, display=display, pace=pace)
        except KeyboardInterrupt as stop:
            line.clear(echoed=True)
            reasons = wants_reasons(run, display, waiting=False)
            return _interrupted(run, got, out, interrupt_code(stop), reasons=reasons)
    out.close()
    _summarize(run, "get", got.results, interrupted=False)
    return worst(result.exit_code for result in got.results)


@dataclass
class Got:
    """What a `get` knows so far: the results handled, in the order given (a prefix of
    `ids`), how many of them are on stdout, and the Asker, which holds answers that came
    before their turn."""

    ids: list[str]
    results: list[TaskResult] = field(default_factory=list)
    written: int = 0
    asker: Asker | None = None

    def write(self, out: Renderer, result: TaskResult) -> None:
        self.written += 1  # before: a line cut short by Ctrl-C is not written twice (as `wait`'s)
        out.task(result)

    def known(self) -> list[TaskResult]:
        """A result per id: those handled, then the answers in, then no answer (not asked)."""
        answers = self.asker.answers if self.asker is not None else {}
        rest = self.ids[len(self.results) :]
        return self.results + [answers.get(task_id) or TaskResult(task_id) for task_id in rest]


def _ask_all(
    run: Run, target: connect.Target, got: Got, *, out: Renderer, line: Watch, display: Display, pace: Pace
) -> None:
    """Every task asked once; each line out as soon as those before it are (`run_get`)."""
    from kpstask.wait.asking import Asker, per_task, refused

    held: int | None = None  # where results started to wait for the failure reasons
    reasons = wants_reasons(run, display, waiting=False)
    # Each transport-level retry is said, with its task (a hung request can cost 20 s), except with -q.
    with connect.client(run, target, pool=pace.concurrency) as client:
        got.asker = Asker(
            per_task(client, None if run.quiet else run.warn), pace, clock=run.clock, sleep=run.sleep, watch=line
        )
        for result in got.asker(got.ids):
            got.results.append(result)
            _heard(run, result)
            if held is None and reasons and unexplained([result]):
                held = len(got.results) - 1
            if held is None:
                got.write(out, result)
        first = next((result for result in got.results if refused(result)), None)
        if held is not None:
            if first is None:
                got.results = explained(got.results, partial(client.once().list_page, "failed"), run.debug)
            for result in got.results[held:]:
                got.write(out, result)
    if first is not None:
        for result in _skip(run, got.ids[len(got.results) :], first.task_id):
            got.results.append(result)
            got.write(out, result)


def _heard(run: Run, result: TaskResult) -> None:
    """What an answer says on stderr: its error, or that it names another task."""
    if result.error is not None:
        run.say("error", _("task {task}: {error}").format(task=result.task_id, error=result.error))
    _check_answer(run, result)


def _interrupted(run: Run, got: Got, out: Renderer, code: ExitCode, *, reasons: bool) -> int:
    """Ctrl-C, SIGTERM or SIGHUP during a `get`: no new request; every answer in, in the order
    given (those that came before their turn too), each other task with no answer (JSON
    `"state":"unknown"`, as `wait` prints a task it never heard of); failure reasons are not
    looked up. Nothing at all when no answer came. A second interrupt stops the printing,
    never with a traceback; the exit code is the first one's."""
    if got.asker is None or not got.asker.answers:
        return code
    try:
        results = got.known()
        for result in results[len(got.results) :]:
            if result.task is not None or result.error is not None:
                _heard(run, result)
        _say_interrupted(run, results, got.asker.sent, reasons=reasons)
        for result in results[got.written :]:
            got.write(out, result)
        out.close()
        _summarize(run, "get", results, interrupted=True)
    except KeyboardInterrupt:
        pass
    return code


def _say_interrupted(run: Run, results: list[TaskResult], sent: int, *, reasons: bool) -> None:
    """`interrupted: 80 of 300 tasks answered; 212 not asked, 8 with no answer yet`."""
    answered = sum(result.task is not None or result.error is not None for result in results)
    if len(results) > 1:
        waiting = max(0, sent - answered)  # asked, the answer abandoned
        rest = _("{count} not asked").format(count=len(results) - answered - waiting)
        if waiting:
            rest = _("{rest}, {count} with no answer yet").format(rest=rest, count=waiting)
        line = _("interrupted: {answered} of {total} tasks answered; {rest}")
        run.say("info", line.format(answered=answered, total=len(results), rest=rest))
    if reasons and unexplained(results):
        run.say("info", _("interrupted: the failed tasks' reasons were not looked up"))


def wants_reasons(run: Run, display: Display, *, waiting: bool) -> bool:
    """Failure reasons cost a request to the failed list: made only where they are shown
    (the table, JSON, a wait's progress, GitHub's annotations and job summary)."""
    shown = not display.quiet and (display.output is not OutputFormat.TSV or waiting)
    return shown or (waiting and run.github_actions) or bool(run.env.get(STEP_SUMMARY))


def _summarize(run: Run, command: str, results: list[TaskResult], *, interrupted: bool) -> None:
    if run.env.get(STEP_SUMMARY):
        from kpstask.output import stepsummary

        stepsummary.write(run.env, command, results, interrupted=interrupted, clean=run.redact, warn=run.warn)


def _check_answer(run: Run, result: TaskResult) -> None:
    """An answer naming another task is reported; the result stays keyed by the id asked about."""
    other = result.task.answered_id if result.task is not None else None
    if other is not None:
        run.warn(
            _("task {task}: the answer is about task {other}; shown as {task}").format(task=result.task_id, other=other)
        )


def _skip(run: Run, rest: list[str], refused: str) -> list[TaskResult]:
    """The tasks not asked about after a refusal."""
    if rest:
        run.warn(_("{count} remaining task(s) not queried: credentials refused").format(count=len(rest)))
    skipped = AuthError(_("not queried: the credentials were refused for task {task}").format(task=refused))
    return [TaskResult(task_id, error=skipped) for task_id in rest]


def run_wait(
    run: Run, target: connect.Target, ids: list[str], display: Display, *, options: WaitOptions, stream: bool = False
) -> int:
    """Poll until every task is terminal or the deadline. With `stream` (`wait -o json|tsv`)
    each task's line goes to stdout when it is final; otherwise the results at the end."""
    from kpstask.wait.events import WaitInterrupted

    hush(run, display.quiet)
    mode = ProgressMode.NONE if run.quiet else display.progress
    # The engine re-polls on its own schedule, so the client does not retry inside a poll.
    client = connect.client(run, target._replace(timing=target.timing._replace(retries=0)), pool=options.concurrency)
    progress = make_progress(run, mode, ids, no_color=display.no_color, heartbeat_s=display.heartbeat_s)
    out = out_for(run, display)
    engine = _engine(run, client, ids, options, progress)
    lines = _stream(run, display, out, client, engine.left_s) if stream else None
    if lines is not None:
        engine.on_event = _both(progress, lines)
    interrupted: ExitCode | None = None
    try:
        try:
            results = engine.run()
        except WaitInterrupted as stop:
            results, interrupted = stop.results, stop.code
        finally:
            progress.stop()
        if lines is not None:  # the failed tasks held for their reasons go before the unfinished
            interrupted = interrupted or _flushed(lines)
            results = lines.known(results)
        if wants_reasons(run, display, waiting=True):  # an interrupted table keeps its reasons too
            lister = partial(client.once().list_page, "failed")
            note = partial(run.say, "info")
            results, again = _explained(run, results, lister, left_s=engine.left_s(), note=note)
            interrupted = interrupted or again
    finally:
        client.close()
    progress.close(results, interrupted is not None)
    _report(run, results, out, results if lines is None else lines.unwritten(results))
    _summarize(run, "wait", results, interrupted=interrupted is not None)
    return interrupted if interrupted is not None else worst(result.exit_code for result in results)


def _engine(run: Run, client: KpsClient, ids: list[str], options: WaitOptions, progress: Progress) -> WaitEngine:
    """The wait's engine: its requests on a few threads sharing the client, the run's clock and sleep."""
    from kpstask.wait.engine import WaitEngine
    from kpstask.wait.runners import ThreadRunner

    runner = ThreadRunner(client.get_task, options.concurrency)
    lister = partial(client.list_page, "running")
    return WaitEngine(
        ids, runner, options, clock=run.clock, sleep=run.sleep, on_event=progress, lister=lister, debug=run.debug
    )


def _stream(
    run: Run, display: Display, out: Renderer, client: KpsClient, left_s: Callable[[], float | None]
) -> ResultStream | None:
    """The sink that writes each line when its task is final: JSON and TSV only (a table is
    drawn at the end), and nothing under -q."""
    from kpstask.wait.resultstream import ResultStream

    if run.quiet or display.output is OutputFormat.HUMAN:
        return None
    if not wants_reasons(run, display, waiting=False):
        return ResultStream(out, None)

    def explain(held: list[TaskResult]) -> list[TaskResult]:
        lister = partial(client.once().list_page, "failed")
        return explained(held, lister, run.debug, left_s=left_s(), note=partial(run.say, "info"))

    return ResultStream(out, explain)


def _flushed(lines: ResultStream) -> ExitCode | None:
    try:
        lines.flush()
    except KeyboardInterrupt as stop:
        return interrupt_code(stop)
    return None


def _both(first: Callable[[Event], None], second: Callable[[Event], None]) -> Callable[[Event], None]:
    def both(event: Event) -> None:
        first(event)
        second(event)

    return both


def _explained(
    run: Run, results: list[TaskResult], lister: Lister, *, left_s: float | None, note: Callable[[str], None] | None
) -> tuple[list[TaskResult], ExitCode | None]:
    """The reasons of failed tasks, within what is left of the deadline; Ctrl-C while they
    are asked for still shows the results."""
    try:
        return explained(results, lister, run.debug, left_s=left_s, note=note), None
    except KeyboardInterrupt as stop:
        return results, interrupt_code(stop)


def make_progress(
    run: Run, mode: ProgressMode, task_ids: Sequence[str], *, no_color: bool, heartbeat_s: float
) -> Progress:
    """`auto` is live on a terminal and plain anywhere else."""
    from kpstask.output.progress import NoProgress, PlainProgress

    if mode is ProgressMode.NONE:
        return NoProgress()
    if mode is ProgressMode.AUTO:
        mode = ProgressMode.LIVE if run.stderr_isatty else ProgressMode.PLAIN
    if mode is ProgressMode.PLAIN:
        return PlainProgress(run.stderr, heartbeat_s=heartbeat_s, wall=run.wall)
    from kpstask.output.human import make_console
    from kpstask.output.live import LiveProgress

    return LiveProgress(make_console(run.stderr, no_color or run.no_color), task_ids, run.redact, clock=run.clock)


def _report(run: Run, results: list[TaskResult], out: Renderer, unwritten: list[TaskResult]) -> None:
    """Annotations and errors on stderr, then the results not written yet on stdout."""
    _annotate(run, results)
    for result in results:
        _check_answer(run, result)
    for result in results:  # errors are said whatever `-q` or `--progress` say (see `output.hush`)
        if result.error is not None:
            run.say("error", _("task {task}: {error}").format(task=result.task_id, error=result.error))
    for result in unwritten:
        out.task(result)
    out.close()


def _annotate(run: Run, results: list[TaskResult]) -> None:
    """In GitHub Actions, an `::error::` annotation for each task that failed, ended in error or
    was not finished at the deadline (whatever --progress or -q say: they are errors)."""
    if not run.github_actions:
        return
    from kpstask.output.progress import annotation

    for result in results:
        line = annotation(result)
        if line is not None:
            run.stderr.write(line + "\n")
    run.stderr.flush()
