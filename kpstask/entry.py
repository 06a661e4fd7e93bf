"""The console script. Signals are handled before anything else loads, and
`kpstask --version` answers before the command framework does (a few milliseconds
instead of ~40); everything else goes to `kpstask.cli`."""

# Ctrl-C, SIGTERM and SIGHUP are held before anything of kpstask's but the package's `__init__`
# loads (run as the console script, that holds them already), so no import of kpstask's can be
# interrupted half way (Python's traceback). Hence no `from __future__` import here (the
# annotations need none), and `_signal`: built into the interpreter, already loaded, no file.
import _signal  # type: ignore[import-not-found]  # signal.py itself, without its enum import

from kpstask import EARLY_SIGNALS, hold_signal, hold_signals

hold_signals()

import sys  # noqa: E402 - after the handlers, on purpose

from kpstask.interrupts import Terminated, interrupted, unraisable  # noqa: E402 - imports only _signal

INTERRUPTED, HUNG_UP, TERMINATED = 130, 129, 143
WORDS = {INTERRUPTED: "interrupted", HUNG_UP: "hung up (SIGHUP)", TERMINATED: "terminated (SIGTERM)"}


def main() -> None:
    try:
        # CI runners stop a step with SIGTERM, a closed terminal sends SIGHUP: both end like
        # Ctrl-C (display restored, what is known printed), with 143 and 129.
        for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
            if _signal.getsignal(signum) is hold_signal:
                _signal.signal(signum, interrupted)
        sys.unraisablehook = unraisable  # an interrupt a finalizer would swallow is taken again
        if _start_up_interrupted():
            EARLY_SIGNALS.append(_signal.SIGINT)
        if EARLY_SIGNALS:  # the first one, raised now: nothing of the command has begun
            interrupted(EARLY_SIGNALS[0], None)
        code: str | int | None = _main()
    except KeyboardInterrupt as exc:  # before the command's own handling took over
        code = exc.signum + 128 if isinstance(exc, Terminated) else INTERRUPTED
        if sys.stderr is not None:
            sys.stderr.write(f"kpstask: error: {WORDS.get(code, 'interrupted')}\n")
    except SystemExit as exc:
        code = exc.code
    _leave(code)


def _start_up_interrupted() -> bool:
    """A Ctrl-C the interpreter caught during its own start-up and went on after: it prints
    the KeyboardInterrupt under "Failed checking if argv[0] is an import path entry" and runs
    the script all the same, which would then wait as if never interrupted."""
    caught = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    return isinstance(caught, KeyboardInterrupt) and not isinstance(caught, Terminated)


def _leave(code: str | int | None) -> None:
    """Exit with `code`. A signal from here on (the interpreter's own shutdown) ends the process
    at once with its exit code and a line: never a traceback from the interpreter's last steps."""

    def at_the_end(signum: int, frame: object) -> None:
        import os

        late = INTERRUPTED if signum == _signal.SIGINT else signum + 128
        os.write(2, f"kpstask: error: {WORDS.get(late, 'interrupted')}\n".encode())
        os._exit(late)

    for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        if _signal.getsignal(signum) is not _signal.SIG_IGN:
            _signal.signal(signum, at_the_end)
    _flush()
    sys.exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass  # said already where it could be (the command's own mapping)


def _main() -> int:
    if sys.argv[1:] == ["--version"]:
        from kpstask import __version__

        if sys.stdout is not None:  # None when started with stdout closed
            sys.stdout.write(f"kpstask {__version__}\n")
        return 0
    from kpstask.cli import main as cli_main
    from kpstask.cli.root import process_run

    return cli_main(sys.argv[1:], process_run())  # the one run of the process
