"""From the command line to a client: settings (flag, environment, profile) ->
credentials -> transport -> KPS client. Nothing is sent to the API here: a login
happens at the first request; only with no credential configured is the ECS
metadata service asked (see `chain`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from kpstask.auth.chain import given_rows, make_credential
from kpstask.choices import Timing
from kpstask.errors import KpsError, UsageError
from kpstask.i18n import _, compose
from kpstask.settings import (
    BY_NAME,
    Found,
    Problem,
    SettingsError,
    as_problem,
    config,
    missing,
    short_where,
)
from kpstask.settings.endpoints import region_url, unknown_region_hint, without_password
from kpstask.settings.resolver import Resolver, transport

if TYPE_CHECKING:
    from kpstask.api.client import KpsClient
    from kpstask.api.transport import Say
    from kpstask.auth.credentials import Credential
    from kpstask.context import Run

T = TypeVar("T")
Row = tuple[str, str, str]


class Target(NamedTuple):
    """Where requests go and as whom."""

    base_url: str
    base_source: str
    region: Found | None
    project_id: str
    project_source: str
    credential: Credential
    timing: Timing


def base_url(resolver: Resolver, needed: bool = True) -> tuple[str, str]:
    """A flag wins over the environment and the profile, then the endpoint over the region."""
    region, endpoint = resolver.find("region"), resolver.find("endpoint")
    if endpoint is not None and (region is None or endpoint.layer <= region.layer):
        return resolver.read(endpoint), endpoint.source
    if region is not None:
        return region_url(resolver.read(region)), region.source
    if not needed:  # `token`: only a password login's IAM needs a place
        return "", _("not needed")
    raise missing("region", "endpoint")


def project_id(resolver: Resolver) -> tuple[str, str]:
    found = resolver.find("project_id")
    if found is None:
        raise missing("project_id")
    return resolver.read(found), found.source


class Problems:
    """The problems of the settings, collected so that one run names every one of them."""

    def __init__(self, every_error: bool = False) -> None:
        self.found: list[Problem] = []
        self.every_error = every_error  # `config show`: a refusal (of the metadata service) is a problem too

    def attempt(self, label: str, make: Callable[[], T]) -> T | None:
        """`make()`, or None and its problem noted (`label`: what it was making)."""
        try:
            return make()
        except UsageError as error:
            self.add(*as_problem(error, label))
        except KpsError as error:
            if not self.every_error:
                raise
            message = compose(lambda message, details: message + details, error.message, error.details())
            self.add(Problem(label, message, (error.hint,) if error.hint else ()))
        return None

    def add(self, *problems: Problem) -> None:
        """Each problem once: a bad region read for the endpoint and for IAM is one problem."""
        self.found += [problem for problem in problems if problem not in self.found]


class Resolved(NamedTuple):
    """What could be resolved (None: see the problems), and the problems."""

    where: tuple[str, str] | None
    project: tuple[str, str] | None
    credential: Credential | None
    problems: list[Problem]


def resolve_all(resolver: Resolver, timing: Timing, need_endpoint: bool = True, report: bool = False) -> Resolved:
    """Every setting the API needs, each tried whatever became of the others. A broken config
    file is raised alone: every other problem might follow from it. With no credential
    configured, the ECS metadata service is asked here, so that "no credentials" is named
    with the other problems."""
    resolver.profile  # noqa: B018 - loads (and checks) the config file first
    problems = Problems(every_error=report)
    where = problems.attempt("endpoint", lambda: base_url(resolver, need_endpoint))
    project = problems.attempt("project id", lambda: project_id(resolver))
    project_value = project[0] if project else ""
    credential = problems.attempt("credentials", lambda: make_credential(resolver, project_value, timing))
    return Resolved(where, project, credential, problems.found)


def resolve(run: Run, flags: Mapping[str, object], timing: Timing, need_endpoint: bool = True) -> Target:
    """Every setting the API needs; one usage error names everything missing or wrong."""
    resolver = Resolver(run, flags)
    done = resolve_all(resolver, timing, need_endpoint)
    if done.problems:
        raise SettingsError(done.problems)
    assert done.where is not None and done.project is not None and done.credential is not None
    return Target(*done.where, resolver.find("region"), *done.project, done.credential, timing)


def client(run: Run, target: Target, pool: int = 10, on_retry: Say | None = None) -> KpsClient:
    from kpstask.api.client import KpsClient

    run.debug(f"endpoint {target.base_url} (from {target.base_source}), project {target.project_id}")
    run.debug(f"credentials: {target.credential.why}")
    http = transport(run, target.base_url, target.timing, pool, on_retry)
    region = target.region
    if region is not None and target.base_source == region.source:  # the host came from the region
        http.unreached_hint = unknown_region_hint(region.value)
    return KpsClient(http, target.project_id, target.credential)


def report(run: Run, flags: Mapping[str, object]) -> tuple[list[Row], list[Problem]]:
    """`config show`: (setting, value, source) rows, secrets masked, a value that failed its
    check not shown (it may be a secret in the wrong place); and every problem."""
    resolver = Resolver(run, flags)
    doubts: list[UsageError] = []  # a region not in kpstask's table: a problem here, not a warning
    resolver.checks = resolver.checks._replace(doubt=doubts.append)
    config_env = BY_NAME["config"].env[0]
    rows: list[Row] = [
        ("config file", str(config.config_path(run.env)), config_env if run.env.get(config_env) else _("default"))
    ]
    chosen = resolver.chosen_profile
    try:
        profile = resolver.profile
    except UsageError as error:
        return [*rows, ("profile", chosen.value, chosen.source)], as_problem(error, "config file")
    value = chosen.value if profile.path else _("{profile} (no config file)").format(profile=chosen.value)
    rows.append(("profile", value, chosen.source))
    rows.append(("language", *run.language))
    if run.debug_on:
        for line in resolver.trace():
            run.debug(line)
    done = resolve_all(resolver, Timing(), report=True)
    rows += _place_rows(resolver, done)
    rows.append(("project id", *done.project) if done.project else _unresolved(resolver, "project_id", done))
    if done.credential is not None:
        rows += done.credential.rows()
    else:
        rows.append(_unresolved(resolver, "credentials", done))
    problems = Problems()
    problems.add(*done.problems, *(problem for doubt in doubts for problem in as_problem(doubt, "region")))
    return rows + _keyless_rows(resolver, done, {label for label, _, _ in rows}), problems.found


def _keyless_rows(resolver: Resolver, done: Resolved, shown: set[str]) -> list[Row]:
    """The keyless settings that are given and bear on the credential: the metadata service's
    when it is (or would have been) asked, the audience for an OIDC login."""
    kind = done.credential.kind if done.credential is not None else None
    asked = kind == "metadata" or any(p.missing and p.label == "credentials" for p in done.problems)
    names: tuple[str, ...] = ("metadata_endpoint", "metadata_timeout", "metadata_disabled") if asked else ()
    names += ("oidc_audience",) if kind in ("oidc", "agency") else ()
    return [got for got in given_rows(resolver, *names) if got[0] not in shown]


def _place_rows(resolver: Resolver, done: Resolved) -> list[Row]:
    """The region (when given) and the endpoint, always: where requests would go."""
    region = resolver.find("region")
    rows: list[Row] = []
    if region is not None:
        if _failed(done, "region"):
            rows.append(("region", _("(invalid)"), region.source))
        else:
            used = done.where is not None and done.where[1] == region.source
            source = region.source if used else _("{source}; not used: the endpoint wins").format(source=region.source)
            rows.append(("region", region.value.strip(), source))
    if done.where is not None:
        return [*rows, ("endpoint", *done.where)]
    return [*rows, _unresolved(resolver, "endpoint", done)]


def _failed(done: Resolved, label: str) -> bool:
    return any(problem.label == label for problem in done.problems)


def _unresolved(resolver: Resolver, name: str, done: Resolved) -> Row:
    """The row of a setting that has no value: none given (and where to give it), or invalid."""
    label = BY_NAME[name].label if name in BY_NAME else name
    if name == "endpoint":
        return _endpoint_row(resolver, done)
    if name == "credentials":
        lacking = any(problem.missing and problem.label == "credentials" for problem in done.problems)
        return (
            label,
            "",
            _("none: set a token, an access key pair, a password login or an OIDC login")
            if lacking
            else _("none: see the problems"),
        )
    found = resolver.find(name)
    if found is not None:
        return label, _("(invalid)"), found.source
    return label, "", _("none: set {where}").format(where=short_where(BY_NAME[name]))


def _endpoint_row(resolver: Resolver, done: Resolved) -> Row:
    """The endpoint row with no endpoint: none given, or invalid. A URL that holds a user name
    or password keeps its host (`https://u:***@kms.example.com`): where requests would go,
    the problem beside it; any other invalid value is not echoed (it may be a secret)."""
    found = resolver.find("endpoint")
    if found is not None and _failed(done, "endpoint"):
        shown = without_password(found.value)
        if "@" not in shown:
            return "endpoint", _("(invalid)"), found.source
        message = next(p.message for p in done.problems if p.label == "endpoint")
        suffix = _("(from {source})").format(source=found.where)
        problem = compose(lambda message, suffix: message.removesuffix(" " + suffix), message, suffix)
        return "endpoint", shown, _("{source}; invalid: {problem}").format(source=found.source, problem=problem)
    given = found is not None or resolver.find("region") is not None
    return "endpoint", "", _("none: the region is invalid") if given else _("none: set --region or --endpoint")
