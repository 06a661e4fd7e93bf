"""What the options say: the fixed sets of values they take, and the plain values
the option groups hand to commands. Standard library only: the command line is
built from these at every start-up and every Tab press."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class OutputFormat(str, Enum):
    """What stdout gets."""

    HUMAN = "human"
    JSON = "json"
    TSV = "tsv"


class ProgressMode(str, Enum):
    """What stderr shows while waiting."""

    AUTO = "auto"
    LIVE = "live"
    PLAIN = "plain"
    NONE = "none"


class Shell(str, Enum):
    """Shells `kpstask completion` writes a script for."""

    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"
    POWERSHELL = "powershell"
    PWSH = "pwsh"  # PowerShell 7's name; the same script


class Display(NamedTuple):
    """How results and progress are shown."""

    output: OutputFormat = OutputFormat.HUMAN
    quiet: bool = False
    no_color: bool = False
    progress: ProgressMode = ProgressMode.AUTO
    heartbeat_s: float = 60.0


class Timing(NamedTuple):
    """Per-request limits."""

    timeout_s: float = 5.0
    retries: int = 3


class WaitOptions(NamedTuple):
    """How a wait goes."""

    timeout_s: float | None = 1800.0  # None: no deadline
    interval_s: float | None = None  # None: adaptive
    not_found_grace_s: float = 30.0
    concurrency: int = 8
    max_rate: float = 10.0  # requests per second, across all tasks
    fail_fast: bool = False
    tick_s: float = 1.0  # how often the display hears from the engine


class Listing(NamedTuple):
    """Which part of a project-wide list."""

    server: str | None = None
    limit: int | None = None  # None: every page
    page_size: int = 1000


class Pace(NamedTuple):
    """How fast requests go: at most `max_rate` a second, `concurrency` at once."""

    max_rate: float = 10.0
    concurrency: int = 8
