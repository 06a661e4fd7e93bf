"""From the command line to a client: settings (flag, environment, profile) ->
credentials -> transport -> KPS client. Nothing is sent here: a password login
happens at the first request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from kpstask import config, credentials
from kpstask.choices import Timing
from kpstask.endpoints import Checks, iam_url, region_url
from kpstask.errors import UsageError
from kpstask.settings import BY_NAME, DEFAULT, Found, Profile, find, missing, row

if TYPE_CHECKING:
    from kpstask.client import KpsClient
    from kpstask.context import Run
    from kpstask.credentials import Credential
    from kpstask.iam import IamLogin
    from kpstask.transport import Say, Transport


class Resolver:
    """The settings of one run: each from its flag, else the environment, else the profile."""

    def __init__(self, run: Run, flags: Mapping[str, object]) -> None:
        self.run = run
        self.flags = flags
        self.checks = Checks(bool(flags.get("allow_http")), run.warn)
        self._profile: Profile | None = None

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
        """The checked value; a secret file is read now, and the secret masked from here on."""
        setting = found.setting
        raw = found.value
        if found.is_file:
            raw = config.read_secret_file(found.value, found.source, self.run)
        value = setting.check(raw, setting.label, found.where, self.checks)
        if setting.secret:
            self.run.add_secret(value)
        return value


class Target(NamedTuple):
    """Where requests go and as whom."""

    base_url: str
    base_source: str
    region: Found | None
    project_id: str
    project_source: str
    credential: Credential
    timing: Timing


def base_url(resolver: Resolver) -> tuple[str, str]:
    """A flag wins over the environment and the profile, then the endpoint over the region."""
    region, endpoint = resolver.find("region"), resolver.find("endpoint")
    if endpoint is not None and (region is None or endpoint.layer <= region.layer):
        return resolver.read(endpoint), endpoint.source
    if region is not None:
        return region_url(resolver.read(region)), region.source
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


def resolve(run: Run, flags: Mapping[str, object], timing: Timing, need_endpoint: bool = True) -> Target:
    """Every setting the API needs; a usage error names what is missing."""
    resolver = Resolver(run, flags)
    if need_endpoint or resolver.find("region") or resolver.find("endpoint"):
        url, source = base_url(resolver)
    else:
        url, source = "", "not needed"
    project, project_source = project_id(resolver)
    credential = make_credential(resolver, project, timing)
    return Target(url, source, resolver.find("region"), project, project_source, credential, timing)


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
    return KpsClient(http, target.project_id, target.credential)


Row = tuple[str, str, str]


def report(run: Run, flags: Mapping[str, object]) -> tuple[list[Row], bool]:
    """`config show`: (setting, value, source) rows, secrets masked; and whether all is well."""
    resolver = Resolver(run, flags)
    config_env = BY_NAME["config"].env[0]
    rows: list[Row] = [("config file", str(config.config_path(run.env)),
                        config_env if run.env.get(config_env) else "default")]  # fmt: skip
    chosen = resolver.chosen_profile
    try:
        target = resolve(run, flags, Timing())
    except UsageError as error:
        rows.append(("profile", chosen.value, chosen.source))
        rows += _partial(resolver)
        rows.append(("problem", str(error), ""))
        return rows, False
    rows.append(("profile", chosen.value + ("" if resolver.profile.path else " (no config file)"), chosen.source))
    if target.region is not None:
        used = "" if target.base_source == target.region.source else "; not used: the endpoint wins"
        rows.append(("region", target.region.value.strip(), target.region.source + used))
    rows += [("endpoint", target.base_url, target.base_source),
             ("project id", target.project_id, target.project_source)]  # fmt: skip
    return rows + target.credential.rows(), True


def _partial(resolver: Resolver) -> list[Row]:
    """What can still be told when something else is missing or wrong."""
    try:
        found = [resolver.find(name) for name in ("region", "endpoint", "project_id")]
    except UsageError:  # the config file itself is the problem
        return []
    return [row(item) for item in found if item is not None]
