"""How option groups become a command's options: `@grouped` expands the groups named in a
command's annotations into typer options under their `--help` headings, and hands the
command one value per group. The groups themselves are declared in `kpstask.cli.options`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple, get_args, get_origin

import typer

from kpstask.context import Run, run_of
from kpstask.i18n import N_

KEYWORD = inspect.Parameter.KEYWORD_ONLY

# `--help` headings. OPTIONS holds a command's own options that name no heading.
# Marked for the catalogs: `--help` shows them in the run's language (kpstask.cli.speaking).
OPTIONS, CONNECTION, CREDENTIALS = N_("Options"), N_("Connection"), N_("Credentials")
REQUESTS, OTHER = N_("Requests"), N_("Other")
OUTPUT_HEADING, WAITING_HEADING = N_("Output"), N_("Waiting")


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
        raise typer.BadParameter(N_("not a finite number"))  # said in the run's language (cli/speaking)
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
        run = run_of(ctx.obj)
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


# The order of the headings in `--help`; None stands for any other (a group declared elsewhere).
HEADINGS: tuple[str | None, ...] = (
    OPTIONS,
    CONNECTION,
    CREDENTIALS,
    OUTPUT_HEADING,
    WAITING_HEADING,
    None,
    REQUESTS,
    OTHER,
)
