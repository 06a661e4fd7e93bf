"""The console script. Signals are handled before anything else loads, and
`kpstask --version` answers before the command framework does (a few milliseconds
instead of ~40); everything else goes to `kpstask.cli`."""

from __future__ import annotations

import sys

from kpstask.interrupts import Terminated  # no imports of its own: nothing for a Ctrl-C to interrupt

INTERRUPTED, TERMINATED = 130, 143


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()  # nothing imported here: a module may be half imported when it lands


def main() -> None:
    try:
        # `signal` is imported in here: a Ctrl-C during that import is caught below too.
        import signal

        # CI runners stop a step with SIGTERM: end like Ctrl-C (display restored, what is known
        # printed), but with 143. Installed first, so even a SIGTERM during start-up ends that way.
        signal.signal(signal.SIGTERM, _terminated)
        _main()
    except KeyboardInterrupt as exc:  # before the command's own handling took over
        code = TERMINATED if isinstance(exc, Terminated) else INTERRUPTED
        if sys.stderr is not None:
            sys.stderr.write(
                "kpstask: error: " + ("terminated (SIGTERM)" if code == TERMINATED else "interrupted") + "\n"
            )
        sys.exit(code)


def _main() -> None:
    if sys.argv[1:] == ["--version"]:
        from kpstask import __version__

        if sys.stdout is not None:  # None when started with stdout closed
            sys.stdout.write(f"kpstask {__version__}\n")
        return
    from kpstask.cli import main as cli_main

    cli_main()
