"""The fixed sets of values options take. Standard library only: the command
line is built from these at every start-up and every Tab press."""

from __future__ import annotations

from enum import Enum


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
