"""The console script. `kpstask --version` answers before the command framework
loads (a few milliseconds instead of ~40); everything else goes to `kpstask.cli`."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from kpstask import __version__

        if sys.stdout is not None:  # None when started with stdout closed
            sys.stdout.write(f"kpstask {__version__}\n")
        return
    from kpstask.cli import main as cli_main

    cli_main()
