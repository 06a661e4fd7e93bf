"""The output boundary: everything a command puts on stdout goes through one
renderer, chosen here by `-o`. There is one renderer per format, with a method
per kind of record; every string that came from a server, a file or argv is made
safe inside them (`kpstask.text.printable`), whatever the format.

Adding a format is one class and one row of `RENDERERS`. rich is imported only
by the human renderer, and only when it is chosen.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Protocol

from kpstask.choices import Display, OutputFormat

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kpstask.context import Run
    from kpstask.errors import KpsError
    from kpstask.models import ListedTask, TaskResult

# format -> (module, class), imported when chosen
RENDERERS: dict[OutputFormat, tuple[str, str]] = {
    OutputFormat.HUMAN: ("kpstask.output.human", "HumanRenderer"),
    OutputFormat.JSON: ("kpstask.output.machine", "JsonRenderer"),
    OutputFormat.TSV: ("kpstask.output.machine", "TsvRenderer"),
}


class Renderer(Protocol):
    """One record at a time; `close` ends the output (a table is drawn then)."""

    def task(self, result: TaskResult) -> None: ...

    def listed(self, task: ListedTask, failed: bool) -> None: ...

    def deletion(self, task_id: str, error: KpsError | None) -> None: ...

    def setting(self, label: str, value: str, source: str) -> None: ...

    def problem(self, label: str, message: str, hints: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class Silent:
    """`-q`: nothing on stdout; the exit code says it all."""

    def task(self, result: TaskResult) -> None:
        pass

    def listed(self, task: ListedTask, failed: bool) -> None:
        pass

    def deletion(self, task_id: str, error: KpsError | None) -> None:
        pass

    def setting(self, label: str, value: str, source: str) -> None:
        pass

    def problem(self, label: str, message: str, hints: Sequence[str]) -> None:
        pass

    def close(self) -> None:
        pass


def hush(run: Run, quiet: bool) -> None:
    """The rule of `-q`, the same for every command that has it (get, wait, running, failed,
    config show), decided here and nowhere else.

    `-q` silences everything on stdout (the `Silent` renderer) and, on stderr, every line that
    is not an error: a wait's progress display, `info` lines and `warning` lines (retries
    included), through `Run.quiet`, which `Run.say` reads. It never silences an error: a
    `kpstask: error:` line and the hint lines under it are always said, and so are GitHub's
    `::error::` annotations (errors, for CI). `--debug` lines, asked for, are still said; a
    question on a terminal (`failed --clear` without --yes) is still asked. The exit code is
    the same with or without `-q`. Called before a command says anything."""
    if quiet:
        run.quiet = True


def for_display(run: Run, display: Display) -> Renderer:
    """The renderer a command's `Output` options ask for."""
    return renderer(run, display.output, quiet=display.quiet, no_color=display.no_color)


def renderer(run: Run, output: OutputFormat, *, quiet: bool = False, no_color: bool = False) -> Renderer:
    """The renderer of `output`; nothing at all under `-q` (see `hush`)."""
    hush(run, quiet)
    if run.quiet:
        return Silent()
    module, name = RENDERERS[output]
    made: Renderer = getattr(import_module(module), name)(run, no_color=no_color)
    return made
