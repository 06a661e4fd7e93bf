"""Option groups, declared once and reused by every command that needs them.

A command names a group in a parameter's annotation (`out: Annotated[Display, OUTPUT]`);
`@grouped` puts the group's options in the command's place, and hands the command
one value made from them (the way llm's `tool_options` decorators are shared).
Nothing lists a command's options by hand: `--help`, parsing and the values all
come from these declarations, and the connection options from the settings table.

Each group names its `--help` heading; an option may name its own (typer's public
`rich_help_panel`, which `cli.root.KpsCommand` shows as a plain-text section).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

from kpstask.api.policy import MIN_INTERVAL_S
from kpstask.choices import Display, OutputFormat, Pace, ProgressMode, Timing, WaitOptions
from kpstask.cli.grouping import (
    CONNECTION,
    CREDENTIALS,
    OTHER,
    OUTPUT_HEADING,
    REQUESTS,
    WAITING_HEADING,
    Group,
    flag_of,
    grouped,
    option,
)
from kpstask.context import Run
from kpstask.errors import UsageError
from kpstask.i18n import N_, _
from kpstask.settings import SETTINGS, Setting, env_help, file_help

__all__ = ["Group", "flag_of", "grouped", "option"]  # the machinery, where commands found it

# -- the connection: one option per settings-table flag -------------------------------


def _complete_region(incomplete: str) -> list[str]:
    """Tab candidates for --region: the known region ids (no network, no heavy imports)."""
    from kpstask.settings.endpoints import KNOWN_REGIONS

    return [region for region in KNOWN_REGIONS if region.startswith(incomplete)]


def complete_profile(incomplete: str) -> list[str]:
    """Tab candidates for --profile: the tables of the config file (read locally, nothing else)."""
    import os

    from kpstask.settings.config import profile_names

    return [name for name in profile_names(os.environ) if name.startswith(incomplete)]


COMPLETERS: dict[str, Callable[[str], list[str]]] = {"region": _complete_region, "profile": complete_profile}


# The settings table lists where requests go, then as whom, then which profile: from its
# first secret on, a setting a profile can hold is a credential.
_FIRST_SECRET = next(index for index, setting in enumerate(SETTINGS) if setting.secret)


def _heading(index: int, setting: Setting) -> str:
    return CREDENTIALS if index >= _FIRST_SECRET and setting.profile_key else CONNECTION


def _setting_options(index: int, setting: Setting) -> list[inspect.Parameter]:
    options = []
    heading = _heading(index, setting)
    if setting.flag and not setting.everywhere:
        decls = [setting.flag, *([setting.short] if setting.short else [])]
        options.append(
            option(
                setting.name,
                str | None,
                None,
                *decls,
                metavar=setting.metavar,
                help=setting.help + env_help(setting),
                rich_help_panel=heading,
                autocompletion=COMPLETERS.get(setting.name),
            )
        )
    if setting.file_flag:
        options.append(
            option(
                f"{setting.name}_file",
                str | None,
                None,
                setting.file_flag,
                metavar="PATH",
                help=file_help(setting),
                rich_help_panel=heading,
            )
        )
    return options


_CONNECTION = (
    *(param for index, setting in enumerate(SETTINGS) for param in _setting_options(index, setting)),
    option(
        "allow_http",
        bool,
        False,
        "--allow-http",
        rich_help_panel=CONNECTION,
        help=N_("Allow plain http:// to a non-loopback host (credentials in clear text)."),
    ),
    option(
        "no_cache",
        bool,
        False,
        "--no-cache",
        rich_help_panel=CREDENTIALS,
        help=N_("Neither read nor write the IAM token cache."),
    ),
)


# -- output, requests, waiting --------------------------------------------


def _display(run: Run, values: dict[str, Any], given: list[str]) -> Display:
    from kpstask.output import hush  # -q holds from the command's first line (see `hush`)

    hush(run, values["quiet"])
    return Display(values["output"], values["quiet"], values["no_color"])


OUTPUT = Group(
    (
        option(
            "output",
            OutputFormat,
            OutputFormat.HUMAN,
            "--output",
            "-o",
            case_sensitive=False,
            help=N_("Result format on stdout."),
        ),
        option(
            "quiet",
            bool,
            False,
            "--quiet",
            "-q",
            help=N_("Nothing on stdout, no progress or warning; errors are still said."),
        ),
        option("no_color", bool, False, "--no-color", help=N_("No colour, even on a terminal. [env: NO_COLOR]")),
    ),
    _display,
    OUTPUT_HEADING,
)

_TIMEOUT = option(
    "request_timeout",
    float,
    5.0,
    "--request-timeout",
    metavar="SECONDS",
    min=0.1,
    max=300.0,
    rich_help_panel=REQUESTS,
    help=N_("Connect and read timeout of each request."),
)
_RETRIES = option(
    "retries",
    int,
    3,
    "--retries",
    metavar="N",
    min=0,
    max=10,
    rich_help_panel=REQUESTS,
    help=N_("Retries after a connection error, timeout, 429, 500, 502, 503 or 504."),
)
_DEBUG = option(
    "debug",
    bool,
    False,
    "--debug",
    rich_help_panel=OTHER,
    help=N_("Log each request and response on stderr (secrets masked); tracebacks on bugs."),
)


class Api(NamedTuple):
    """Where requests go, as whom, and their limits."""

    flags: dict[str, object]  # the settings-table flags, --allow-http and --no-cache
    timing: Timing
    given: list[str]  # the options set on the command line (`get --wait` refuses --retries)


def _api(run: Run, values: dict[str, Any], given: list[str]) -> Api:
    run.debug_on = bool(values.pop("debug"))
    timing = Timing(values.pop("request_timeout", 5.0), values.pop("retries", 3))
    return Api(values, timing, given)


def api_group(*, timeout: bool = True, retries: bool = True) -> Group:
    """The connection options, --debug, and (for commands that send requests) their limits."""
    limits = ((_TIMEOUT,) if timeout else ()) + ((_RETRIES,) if retries else ())
    return Group((*_CONNECTION, *limits, _DEBUG), _api, CONNECTION)


API = api_group()
API_NO_RETRIES = api_group(retries=False)
SETTINGS_ONLY = api_group(timeout=False, retries=False)


class Waiting(NamedTuple):
    options: WaitOptions
    progress: ProgressMode
    heartbeat_s: float
    given: list[str]  # the waiting options set on the command line

    def display(self, display: Display) -> Display:
        return display._replace(progress=self.progress, heartbeat_s=self.heartbeat_s)


def _waiting(run: Run, values: dict[str, Any], given: list[str]) -> Waiting:
    from kpstask.durations import parse_duration

    interval = parse_duration(values["interval"], "--interval") if values["interval"] is not None else None
    if interval is not None and interval < MIN_INTERVAL_S:
        raise UsageError(_("--interval: at least {seconds:g}s per task").format(seconds=MIN_INTERVAL_S))
    options = WaitOptions(
        timeout_s=parse_duration(values["timeout"], "--timeout") or None,
        interval_s=interval,
        not_found_grace_s=parse_duration(values["not_found_grace"], "--not-found-grace"),
        fail_fast=values["fail_fast"],
    )
    return Waiting(options, values["progress"], parse_duration(values["heartbeat"], "--heartbeat"), given)


WAITING = Group(
    (
        option(
            "timeout",
            str,
            "30m",
            "--timeout",
            metavar="DURATION",
            help=N_("Overall deadline of a wait: 90, 90s, 5m, 1h; 0 = no limit."),
        ),
        option(
            "interval",
            str | None,
            None,
            "--interval",
            metavar="DURATION",
            help=N_("Poll each task at this fixed interval (at least 1s) instead of the adaptive schedule."),
        ),
        option(
            "not_found_grace",
            str,
            "30s",
            "--not-found-grace",
            metavar="DURATION",
            help=N_("Keep asking about a task that is not found for this long (it may be new)."),
        ),
        option("fail_fast", bool, False, "--fail-fast", help=N_("Stop waiting at the first failed task.")),
        option(
            "progress",
            ProgressMode,
            ProgressMode.AUTO,
            "--progress",
            case_sensitive=False,
            help=N_("Progress on stderr: auto = live on a terminal, plain lines elsewhere."),
        ),
        option(
            "heartbeat",
            str,
            "60s",
            "--heartbeat",
            metavar="DURATION",
            help=N_("With plain progress, a line this often while nothing changes; 0 = never."),
        ),
    ),
    _waiting,
    WAITING_HEADING,
)


PACE = Group(
    (
        option(
            "max_rate",
            float,
            10.0,
            "--max-rate",
            metavar="PER_SECOND",
            min=0.1,
            max=1000.0,
            help=N_("At most this many requests per second, all tasks together."),
        ),
        option(
            "concurrency", int, 8, "--concurrency", metavar="N", min=1, max=64, help=N_("Requests in flight at once.")
        ),
    ),
    lambda run, values, given: Pace(values["max_rate"], values["concurrency"]),
    REQUESTS,
)
