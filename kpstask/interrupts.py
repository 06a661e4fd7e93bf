"""The exception SIGTERM and SIGHUP become. It lives alone, with no imports, so that the
signal handler can raise it at any moment, even while another module is half imported."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI runner stopping the step) or SIGHUP (the terminal went away): ends like
    Ctrl-C, with exit 143 or 129."""

    # Signals are the process's: remembered here, since typer turns any interrupt into Exit(130).
    seen = 0  # the number of the last such signal (15 or 1); 0 while none came

    def __init__(self, signum: int = 15) -> None:
        super().__init__("terminated")
        self.signum = signum
        Terminated.seen = signum
