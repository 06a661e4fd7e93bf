"""From the command line to a client: settings (flag, environment, profile) ->
credentials -> transport -> KPS client. Nothing is sent here: a password login
happens at the first request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from kpstask import config, credentials
from kpstask.choices import Timing
from kpstask.endpoints import Checks, iam_url, region_url, unknown_region_hint
from kpstask.errors import UsageError
from kpstask.settings import (
    BY_NAME,
    DEFAULT,
    SETTINGS,
    Found,
    Problem,
    Profile,
    SettingsError,
    as_problem,
    find,
    looked_at,
    missing,
    short_where,
)

if TYPE_CHECKING:
    from kpstask.client import KpsClient
    from kpstask.context import Run
    from kpstask.credentials import Credential
    from kpstask.iam import IamLogin
    from kpstask.transport import Say, Transport

T = TypeVar("T")


class Resolver:
    """The settings of one run: each from its flag, else the environment, else the profile."""

    def __init__(self, run: Run, flags: Mapping[str, object]) -> None:
        self.run = run
        self.flags = flags
        self.checks = Checks(bool(flags.get("allow_http")), run.warn)
        self._profile: Profile | None = None
        self._read: dict[tuple[str, str, str], str] = {}

    @property
    def chosen_profile(self) -> Found:
        found = find(BY_NAME["profile"], self.flags, self.run.env, None)
        return found or Found(BY_NAME["profile"], "default", "default", DEFAULT)

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            chosen = self.chosen_profile
            self._profile = config.load_profile(chosen.value if chosen.layer != DEFAULT else None, self.run.env)
        return self._profile

    def find(self, name: str, partner: Found | None = None) -> Found | None:
        setting = BY_NAME[name]
        profile = self.profile if setting.profile_key else None
        return find(setting, self.flags, self.run.env, profile, partner)

    def read(self, found: Found) -> str:
        """The checked value; a secret file is read now, and the secret masked from here on.
        Read once: a second use (the region for IAM) does not warn again."""
        key = (found.setting.name, found.source, found.value)
        if key not in self._read:
            self._read[key] = self._check(found)
        return self._read[key]

    def _check(self, found: Found) -> str:
        setting = found.setting
        try:
            raw = config.read_secret_file(found.value, found.source, self.run) if found.is_file else found.value
            value = setting.check(raw, setting.label, found.where, self.checks)
        except UsageError as error:  # said as a problem of this setting, with the others
            raise SettingsError(as_problem(error, setting.label)) from None
        if setting.secret:
            self.run.add_secret(value)
        return value

    def trace(self) -> list[str]:
        """`config show --debug`: where each setting was looked for (names, never values)."""
        profile = self.profile
        return [looked_at(s, self.flags, self.run.env, profile if s.profile_key else None) for s in SETTINGS]


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
        return "", "not needed"
    raise missing("region", "endpoint")


def project_id(resolver: Resolver) -> tuple[str, str]:
    found = resolver.find("project_id")
    if found is None:
        raise missing("project_id")
    return resolver.read(found), found.source


def iam_endpoint(resolver: Resolver) -> tuple[str, str]:
    found = resolver.find("iam_endpoint")
    if found is not None:
        return resolver.read(found), found.source
    region = resolver.find("region")
    if region is None:
        return iam_url(None), "default (global IAM)"
    return iam_url(resolver.read(region)), "default for the region"


class Problems:
    """The problems of the settings, collected so that one run names every one of them."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def attempt(self, label: str, make: Callable[[], T]) -> T | None:
        """`make()`, or None and its problem noted (`label`: what it was making)."""
        try:
            return make()
        except UsageError as error:
            self.found += as_problem(error, label)
            return None


class Resolved(NamedTuple):
    """What could be resolved (None: see the problems), and the problems."""

    where: tuple[str, str] | None
    project: tuple[str, str] | None
    credential: Credential | None
    problems: list[Problem]


def resolve_all(resolver: Resolver, timing: Timing, need_endpoint: bool = True) -> Resolved:
    """Every setting the API needs, each tried whatever became of the others. A broken config
    file is raised alone: every other problem might follow from it."""
    resolver.profile  # noqa: B018 - loads (and checks) the config file first
    problems = Problems()
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


def make_credential(resolver: Resolver, project: str, timing: Timing) -> Credential:
    """The chosen credential, its files read; the others are named in `why`."""
    found = credentials.candidates(resolver.find)
    chosen = credentials.choose(found)
    values = {part.setting.name: resolver.read(part) for part in chosen.parts}
    credential: Credential
    if chosen.kind == "token":
        credential = credentials.TokenAuth(values["token"], chosen.parts[0])
    elif chosen.kind == "aksk":
        credential = credentials.AkSkAuth(values, chosen.parts, project)
    else:
        credential = _password(resolver, project, timing, values, chosen.parts)
    credential.why += credentials.also_found(found, chosen)
    return credential


def _password(resolver: Resolver, project: str, timing: Timing, values: dict[str, str],
              parts: tuple[Found, ...]) -> Credential:  # fmt: skip
    url, source = iam_endpoint(resolver)
    run = resolver.run
    cache = None if resolver.flags.get("no_cache") else config.cache_dir(run.env)
    rows = [("iam endpoint", url, source),
            ("token cache", str(cache / "tokens") if cache else "off (--no-cache)",
             "XDG_CACHE_HOME or ~/.cache" if cache else "--no-cache")]  # fmt: skip

    def login() -> IamLogin:
        from kpstask.iam import IamLogin, cache_file

        user, domain, password = values["user_name"], values["domain"], values["password"]
        return IamLogin(
            transport=transport(run, url, timing),
            user=user,
            domain=domain,
            password=password,
            project_id=project,
            cache=cache_file(cache, url, domain, user, project) if cache else None,
            on_token=run.add_secret,
            warn=run.warn,
            debug=run.debug,
        )

    return credentials.PasswordAuth(login, parts, rows)


def transport(run: Run, base: str, timing: Timing, pool: int = 10, on_retry: Say | None = None) -> Transport:
    from kpstask.transport import Backoff, Transport

    return Transport(
        base,
        timeout_s=timing.timeout_s,
        retry=Backoff.exponential(retries=timing.retries),
        debug=run.debug if run.debug_on else None,
        on_retry=on_retry,
        pool_size=pool,
    )


def client(run: Run, target: Target, pool: int = 10, on_retry: Say | None = None) -> KpsClient:
    from kpstask.client import KpsClient

    run.debug(f"endpoint {target.base_url} (from {target.base_source}), project {target.project_id}")
    run.debug(f"credentials: {target.credential.why}")
    http = transport(run, target.base_url, target.timing, pool, on_retry)
    region = target.region
    if region is not None and target.base_source == region.source:  # the host came from the region
        http.unreached_hint = unknown_region_hint(region.value)
    return KpsClient(http, target.project_id, target.credential)


Row = tuple[str, str, str]


def report(run: Run, flags: Mapping[str, object]) -> tuple[list[Row], list[Problem]]:
    """`config show`: (setting, value, source) rows, secrets masked, a value that failed its
    check not shown (it may be a secret in the wrong place); and every problem."""
    resolver = Resolver(run, flags)
    config_env = BY_NAME["config"].env[0]
    rows: list[Row] = [("config file", str(config.config_path(run.env)),
                        config_env if run.env.get(config_env) else "default")]  # fmt: skip
    chosen = resolver.chosen_profile
    try:
        profile = resolver.profile
    except UsageError as error:
        return [*rows, ("profile", chosen.value, chosen.source)], as_problem(error, "config file")
    rows.append(("profile", chosen.value + ("" if profile.path else " (no config file)"), chosen.source))
    if run.debug_on:
        for line in resolver.trace():
            run.debug(line)
    done = resolve_all(resolver, Timing())
    rows += _place_rows(resolver, done)
    rows.append(("project id", *done.project) if done.project else _unresolved(resolver, "project_id", done))
    if done.credential is not None:
        return rows + done.credential.rows(), done.problems
    return [*rows, _unresolved(resolver, "credentials", done)], done.problems


def _place_rows(resolver: Resolver, done: Resolved) -> list[Row]:
    """The region (when given) and the endpoint, always: where requests would go."""
    region = resolver.find("region")
    rows: list[Row] = []
    if region is not None:
        if _failed(done, "region"):
            rows.append(("region", "(invalid)", region.source))
        else:
            used = done.where is not None and done.where[1] == region.source
            unused = "" if used else "; not used: the endpoint wins"
            rows.append(("region", region.value.strip(), region.source + unused))
    if done.where is not None:
        return [*rows, ("endpoint", *done.where)]
    return [*rows, _unresolved(resolver, "endpoint", done)]


def _failed(done: Resolved, label: str) -> bool:
    return any(problem.label == label for problem in done.problems)


def _unresolved(resolver: Resolver, name: str, done: Resolved) -> Row:
    """The row of a setting that has no value: none given (and where to give it), or invalid."""
    label = BY_NAME[name].label if name in BY_NAME else name
    if name == "endpoint":
        found = resolver.find("endpoint")
        if found is not None and _failed(done, "endpoint"):
            return label, "(invalid)", found.source
        given = found is not None or resolver.find("region") is not None
        return label, "", "none: the region is invalid" if given else "none: set --region or --endpoint"
    if name == "credentials":
        lacking = any(problem.missing and problem.label == "credentials" for problem in done.problems)
        return label, "", "none: set a token, an access key pair or a password login" if lacking else \
            "none: see the problems"  # fmt: skip
    found = resolver.find(name)
    if found is not None:
        return label, "(invalid)", found.source
    return label, "", f"none: set {short_where(BY_NAME[name])}"
