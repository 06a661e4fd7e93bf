"""The console script. Signals are handled before anything else loads, and
`kpstask --version` answers before the command framework does (a few milliseconds
instead of ~40); everything else goes to `kpstask.cli`."""

# The first statements take Ctrl-C, SIGTERM and SIGHUP over, so no import of kpstask's can be
# interrupted half way (a traceback and exit 1). Hence no `from __future__` import here (the
# annotations need none), and `_signal`: built into the interpreter, already loaded, no file.
import _signal  # type: ignore[import-not-found]  # signal.py itself, without its enum import

_EARLY: list[int] = []  # signals that came before `main` put its handlers in place


def _remember(signum: int, frame: object) -> None:
    _EARLY.append(signum)  # raised as soon as `main` can handle it


for _signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
    if _signal.getsignal(_signum) is not _signal.SIG_IGN:  # `nohup`, or a background job: left ignored
        _signal.signal(_signum, _remember)

import sys  # noqa: E402 - after the handlers, on purpose

from kpstask.interrupts import Terminated  # noqa: E402 - no imports of its own

INTERRUPTED, HUNG_UP, TERMINATED = 130, 129, 143
WORDS = {INTERRUPTED: "interrupted", HUNG_UP: "hung up (SIGHUP)", TERMINATED: "terminated (SIGTERM)"}


def _terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)  # nothing imported here: a module may be half imported when it lands


def _raise(signum: int) -> None:
    if signum == _signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def main() -> None:
    try:
        # CI runners stop a step with SIGTERM, a closed terminal sends SIGHUP: both end like
        # Ctrl-C (display restored, what is known printed), with 143 and 129.
        handlers = {_signal.SIGINT: _signal.default_int_handler, _signal.SIGTERM: _terminated}
        for signum, handler in (handlers | {_signal.SIGHUP: _terminated}).items():
            if _signal.getsignal(signum) is _remember:
                _signal.signal(signum, handler)
        if _EARLY:
            _raise(_EARLY[0])
        code: str | int | None = _main()
    except KeyboardInterrupt as exc:  # before the command's own handling took over
        code = exc.signum + 128 if isinstance(exc, Terminated) else INTERRUPTED
        if sys.stderr is not None:
            sys.stderr.write(f"kpstask: error: {WORDS.get(code, 'interrupted')}\n")
    except SystemExit as exc:
        code = exc.code
    _leave(code)


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

    cli_main()
    return 0
