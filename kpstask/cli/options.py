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
import math
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple, get_args, get_origin

import typer

from kpstask.choices import Display, OutputFormat, Pace, ProgressMode, Timing, WaitOptions
from kpstask.context import Run
from kpstask.errors import UsageError
from kpstask.policy import MIN_INTERVAL_S
from kpstask.settings import SETTINGS, Setting, env_help, file_help

KEYWORD = inspect.Parameter.KEYWORD_ONLY

# `--help` headings. OPTIONS holds a command's own options that name no heading.
OPTIONS, CONNECTION, CREDENTIALS, REQUESTS, OTHER = "Options", "Connection", "Credentials", "Requests", "Other"


class Group(NamedTuple):
    """Options given to a command as one value: `make(run, values, given)`, where
    `given` names the options set on the command line (not left at their default).
    `heading`: where `--help` lists them (unless an option names its own)."""

    params: tuple[inspect.Parameter, ...]
    make: Callable[[Run, dict[str, Any], list[str]], Any]
    heading: str = OPTIONS


def finite(value: float | None) -> float | None:
    """`nan` and `inf` pass a float option's range check: refuse them."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter("not a finite number")
    return value


def option(name: str, kind: Any, default: Any, *decls: str, **settings: Any) -> inspect.Parameter:
    """One option: `--flag` with its help, as typer reads it off a signature."""
    settings.setdefault("show_default", default is not None and default is not False)
    if kind is float:
        settings.setdefault("callback", finite)
    annotation = Annotated[kind, typer.Option(*decls, **settings)]
    return inspect.Parameter(name, KEYWORD, default=default, annotation=annotation)


def _option_info(param: inspect.Parameter) -> Any:
    """The typer.Option of an annotated parameter; None for an argument (or no annotation).
    (`__metadata__` is what `get_args(Annotated[...])[1:]` reads, at a fifth of the cost.)"""
    metadata = getattr(param.annotation, "__metadata__", ())
    return next((meta for meta in metadata if isinstance(meta, typer.models.OptionInfo)), None)


def flag_of(param: inspect.Parameter) -> str:
    """`--request-timeout` for the parameter `request_timeout`."""
    info = _option_info(param)
    return str(info.param_decls[0]) if info.param_decls else "--" + param.name.replace("_", "-")


def _under(heading: str, param: inspect.Parameter) -> inspect.Parameter:
    """`param` listed under `heading`, unless it names its own. Set on the declaration itself
    (an option belongs to one group, so every command agrees): a copy per command cost 0.4 ms
    of start-up."""
    info = _option_info(param)
    if info is not None and not info.rich_help_panel:
        info.rich_help_panel = heading
    return param


def _laid_out(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    """Arguments as declared, then the options by heading (stable, so each heading keeps the
    order of its declarations): `--help` shows a heading where its first option is. Options
    become keyword-only, so a command's own option may follow a group's."""
    pairs = [(param, _option_info(param)) for param in params]
    arguments = [param for param, info in pairs if info is None]
    options = sorted(((param, info) for param, info in pairs if info is not None), key=_rank)
    return arguments + [param.replace(kind=KEYWORD) for param, _ in options]


def _rank(option: tuple[inspect.Parameter, Any]) -> int:
    heading = option[1].rich_help_panel or OPTIONS
    return HEADINGS.index(heading if heading in HEADINGS else None)


def grouped(func: Callable[..., int]) -> Callable[..., int]:
    """Expand the option groups named in `func`'s annotations; inject the run context."""
    own = inspect.signature(func, eval_str=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, Group] = {}
    for param in own.parameters.values():
        group = _group_in(param.annotation)
        if param.name == "run":
            continue
        if group is None:
            params.append(param)
        else:
            groups[param.name] = group
            params.extend(_under(group.heading, p) for p in group.params)
    params = [*_laid_out(params), inspect.Parameter("ctx", KEYWORD, annotation=typer.Context)]

    def command(**values: Any) -> int:
        ctx: typer.Context = values.pop("ctx")
        run: Run = ctx.obj if isinstance(ctx.obj, Run) else Run()
        for name, group in groups.items():
            mine = {param.name: values.pop(param.name) for param in group.params}
            given = [flag_of(p) for p in group.params if _source(ctx, p.name) not in ("DEFAULT", "DEFAULT_MAP")]
            values[name] = group.make(run, mine, given)
        return func(run=run, **values)

    command.__name__, command.__qualname__, command.__doc__ = func.__name__, func.__qualname__, func.__doc__
    command.__module__ = func.__module__
    command.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {param.name: param.annotation for param in params}
    return command


def _group_in(annotation: Any) -> Group | None:
    if get_origin(annotation) is not Annotated:
        return None
    return next((meta for meta in get_args(annotation)[1:] if isinstance(meta, Group)), None)


def _source(ctx: typer.Context, name: str) -> str:
    source = ctx.get_parameter_source(name)
    return source.name if source is not None else "DEFAULT"


# -- the connection: one option per settings-table flag -------------------------------


def _complete_region(incomplete: str) -> list[str]:
    """Tab candidates for --region: the known region ids (no network, no heavy imports)."""
    from kpstask.endpoints import KNOWN_REGIONS

    return [region for region in KNOWN_REGIONS if region.startswith(incomplete)]


def complete_profile(incomplete: str) -> list[str]:
    """Tab candidates for --profile: the tables of the config file (read locally, nothing else)."""
    import os

    from kpstask.config import profile_names

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
    if setting.flag:
        decls = [setting.flag, *([setting.short] if setting.short else [])]
        options.append(option(setting.name, str | None, None, *decls, metavar=setting.metavar,
                              help=setting.help + env_help(setting), rich_help_panel=heading,
                              autocompletion=COMPLETERS.get(setting.name)))  # fmt: skip
    if setting.file_flag:
        options.append(option(f"{setting.name}_file", str | None, None, setting.file_flag, metavar="PATH",
                              help=file_help(setting), rich_help_panel=heading))  # fmt: skip
    return options


_CONNECTION = (
    *(param for index, setting in enumerate(SETTINGS) for param in _setting_options(index, setting)),
    option("allow_http", bool, False, "--allow-http", rich_help_panel=CONNECTION,
           help="Allow plain http:// to a non-loopback host (credentials in clear text)."),
    option("no_cache", bool, False, "--no-cache", rich_help_panel=CREDENTIALS,
           help="Neither read nor write the IAM token cache."),
)  # fmt: skip


# -- output, requests, waiting --------------------------------------------


def _display(run: Run, values: dict[str, Any], given: list[str]) -> Display:
    from kpstask.output import hush  # -q holds from the command's first line (see `hush`)

    hush(run, values["quiet"])
    return Display(values["output"], values["quiet"], values["no_color"])


OUTPUT = Group(
    (
        option("output", OutputFormat, OutputFormat.HUMAN, "--output", "-o", case_sensitive=False,
               help="Result format on stdout."),
        option("quiet", bool, False, "--quiet", "-q",
               help="Nothing on stdout, no progress or warning; errors are still said."),
        option("no_color", bool, False, "--no-color", help="No colour, even on a terminal. [env: NO_COLOR]"),
    ),
    _display,
    "Output",
)  # fmt: skip

_TIMEOUT = option("request_timeout", float, 5.0, "--request-timeout", metavar="SECONDS", min=0.1, max=300.0,
                  rich_help_panel=REQUESTS, help="Connect and read timeout of each request.")  # fmt: skip
_RETRIES = option("retries", int, 3, "--retries", metavar="N", min=0, max=10, rich_help_panel=REQUESTS,
                  help="Retries after a connection error, timeout, 429, 502, 503 or 504.")  # fmt: skip
_DEBUG = option("debug", bool, False, "--debug", rich_help_panel=OTHER,
                help="Log each request and response on stderr (secrets masked); tracebacks on bugs.")  # fmt: skip


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
        raise UsageError(f"--interval: at least {MIN_INTERVAL_S:g}s per task")
    options = WaitOptions(
        timeout_s=parse_duration(values["timeout"], "--timeout") or None,
        interval_s=interval,
        not_found_grace_s=parse_duration(values["not_found_grace"], "--not-found-grace"),
        fail_fast=values["fail_fast"],
    )
    return Waiting(options, values["progress"], parse_duration(values["heartbeat"], "--heartbeat"), given)


WAITING = Group(
    (
        option("timeout", str, "30m", "--timeout", metavar="DURATION",
               help="Overall deadline of a wait: 90, 90s, 5m, 1h; 0 = no limit."),
        option("interval", str | None, None, "--interval", metavar="DURATION",
               help="Poll each task at this fixed interval (at least 1s) instead of the adaptive schedule."),
        option("not_found_grace", str, "30s", "--not-found-grace", metavar="DURATION",
               help="Keep asking about a task that is not found for this long (it may be new)."),
        option("fail_fast", bool, False, "--fail-fast", help="Stop waiting at the first failed task."),
        option("progress", ProgressMode, ProgressMode.AUTO, "--progress", case_sensitive=False,
               help="Progress on stderr: auto = live on a terminal, plain lines elsewhere."),
        option("heartbeat", str, "60s", "--heartbeat", metavar="DURATION",
               help="With plain progress, a line this often while nothing changes; 0 = never."),
    ),
    _waiting,
    "Waiting",
)  # fmt: skip


PACE = Group(
    (
        option("max_rate", float, 10.0, "--max-rate", metavar="PER_SECOND", min=0.1, max=1000.0,
               help="At most this many requests per second, all tasks together."),
        option("concurrency", int, 8, "--concurrency", metavar="N", min=1, max=64, help="Requests in flight at once."),
    ),
    lambda run, values, given: Pace(values["max_rate"], values["concurrency"]),
    REQUESTS,
)  # fmt: skip

# The order of the headings in `--help`; None stands for any other (a group declared elsewhere).
HEADINGS: tuple[str | None, ...] = (OPTIONS, CONNECTION, CREDENTIALS, OUTPUT.heading, WAITING.heading, None,
                                    REQUESTS, OTHER)  # fmt: skip
