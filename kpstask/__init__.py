"""kpstask: did the key-pair change on my Huawei Cloud server work yet?"""

# Run as the `kpstask` command, the process holds Ctrl-C, SIGTERM and SIGHUP from here on: they
# are noted, and acted on as soon as `kpstask.entry.main` can; one landing while the rest of
# kpstask imports would otherwise end in Python's traceback. Only the interpreter's own start-up
# and the console script's first lines come before this. A program that imports the package
# keeps its own handlers. `sys` and `_signal` are built in and loaded already: no file is read.
import _signal  # type: ignore[import-not-found]  # signal.py itself, without its enum import
import sys as _sys

__version__ = "0.1.0"

EARLY_SIGNALS: list[int] = []  # the signals held, in their order


def hold_signal(signum: int, frame: object) -> None:
    EARLY_SIGNALS.append(signum)


def hold_signals() -> None:
    """Hold SIGINT, SIGTERM and SIGHUP; one that is ignored (`nohup`, a background job) stays so."""
    for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        if _signal.getsignal(signum) is not _signal.SIG_IGN:
            _signal.signal(signum, hold_signal)


def _the_command() -> bool:
    """The console script (`bin/kpstask`), or `python -m kpstask` (argv[0] is "-m" meanwhile)."""
    argv = getattr(_sys, "argv", None) or [""]
    if argv[0].rpartition("/")[2] == "kpstask":
        return True
    given = getattr(_sys, "orig_argv", [])
    return argv[0] == "-m" and "-m" in given and given[given.index("-m") + 1 :][:1] == ["kpstask"]


if _the_command():
    hold_signals()
