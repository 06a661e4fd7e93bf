"""The exception SIGTERM becomes. It lives alone, with no imports, so that the signal
handler can raise it at any moment, even while another module is half imported."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI runner stopping the step): ends like Ctrl-C, with exit 143."""

    # Signals are the process's: remembered here, since typer turns any interrupt into Exit(130).
    seen = False

    def __init__(self) -> None:
        super().__init__("terminated")
        Terminated.seen = True
