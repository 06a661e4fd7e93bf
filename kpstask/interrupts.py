"""What a signal that ends the run becomes, and where it may land. This module imports only
`_signal` (built into the interpreter, loaded already: no file is read), so that a signal
handler can use it at any moment, even while another module is half imported."""

import _signal  # type: ignore[import-not-found]  # signal.py itself, without its enum import

# Code of the import machinery: a KeyboardInterrupt raised in there, between a lock taken and
# the `try` that gives it back, keeps an import lock taken for good (any other thread's next
# import then waits forever), and one raised in its weakref callbacks is swallowed (the
# Ctrl-C lost). A signal landing in there (or where the interpreter would turn the exception
# into another, see `not_here`) is taken again a moment later, past it.
IMPORT_MACHINERY = "<frozen importlib._bootstrap"  # also `_bootstrap_external`
LATER_S = 0.001  # how soon the signal is taken again: an import's step takes microseconds

_PENDING: list[int] = []  # the signals to take again, in their order
_SAVED: list[object] = []  # SIGALRM's handler while it is borrowed


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI runner stopping the step) or SIGHUP (the terminal went away): ends like
    Ctrl-C, with exit 143 or 129."""

    # Signals are the process's: remembered here, since typer turns any interrupt into Exit(130).
    seen = 0  # the number of the last such signal (15 or 1); 0 while none came

    def __init__(self, signum: int = 15) -> None:
        super().__init__("terminated")
        self.signum = signum
        Terminated.seen = signum


def interrupted(signum: int, frame: object) -> None:
    """The handler of SIGINT (a KeyboardInterrupt), SIGTERM and SIGHUP (Terminated) while the
    command runs; inside the import machinery, the same a moment later."""
    if not_here(frame):
        later(signum)
        return
    if signum == _signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def not_here(frame: object) -> bool:
    """Whether code interrupted at `frame` must not get the exception now: the import machinery
    (the frames of this module are looked through: a second signal landing inside the first's
    handling is about the code the first one interrupted), or a `__set_name__` anywhere down
    the stack, whose exception class creation turns into a RuntimeError (a bug's exit 70, not
    130): the descriptors of dataclass fields and enum members have one."""
    code = getattr(frame, "f_code", None)
    while code is not None and code in _OURS:
        frame = getattr(frame, "f_back", None)
        code = getattr(frame, "f_code", None)
    if code is not None and str(code.co_filename).startswith(IMPORT_MACHINERY):
        return True
    while code is not None:
        if code.co_name == "__set_name__":
            return True
        frame = getattr(frame, "f_back", None)
        code = getattr(frame, "f_code", None)
    return False


def later(signum: int) -> None:
    """Take `signum` again in a moment, with whatever handles it then. SIGALRM is borrowed for
    that: a signal raised from here would be taken at once, in this very frame."""
    if not _PENDING:
        saved = _signal.signal(_signal.SIGALRM, _again)
        _SAVED.append(_signal.SIG_DFL if saved is None else saved)  # None: set outside Python
    _PENDING.append(signum)
    _signal.setitimer(_signal.ITIMER_REAL, LATER_S)


def _again(alarm: int, frame: object) -> None:
    if not _PENDING:  # a stray SIGALRM: not ours
        return
    if not_here(frame):
        _signal.setitimer(_signal.ITIMER_REAL, LATER_S)
        return
    signum = _PENDING.pop(0)
    if not _PENDING:
        _signal.signal(_signal.SIGALRM, _SAVED.pop())
    else:
        _signal.setitimer(_signal.ITIMER_REAL, LATER_S)
    handler = _signal.getsignal(signum)
    if callable(handler):
        handler(signum, frame)
    elif handler == _signal.SIG_DFL:  # what the signal does on its own: end the process
        _signal.raise_signal(signum)


def unraisable(info: object) -> None:
    """`sys.unraisablehook`: an interrupt raised inside a finalizer or a weakref callback, which
    the interpreter would swallow (and the wait go on), is taken again, past it. Nothing else
    there is the user's to act on: not printed."""
    error = getattr(info, "exc_value", None)
    if isinstance(error, KeyboardInterrupt):
        later(error.signum if isinstance(error, Terminated) else _signal.SIGINT)


_OURS = {interrupted.__code__, not_here.__code__, later.__code__, _again.__code__, unraisable.__code__}
