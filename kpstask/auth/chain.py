"""The credential chain: from the settings to the one Credential a run uses. A credential
configured in the most explicit place wins (`credentials.choose`); with none configured,
the ECS server's agency, from its metadata service. An OIDC login finds its ID token in
a file, a variable, or GitHub Actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from kpstask.auth import candidates, credentials
from kpstask.choices import Timing
from kpstask.i18n import N_, _, compose
from kpstask.settings import Found, config, row
from kpstask.settings.resolver import Resolver, optional, service_endpoint, transport

if TYPE_CHECKING:
    from kpstask.auth.candidates import Candidate
    from kpstask.auth.credentials import Credential
    from kpstask.auth.federation import IdTokenSource
    from kpstask.auth.iam import TokenLogin

Row = tuple[str, str, str]


def make_credential(resolver: Resolver, project: str, timing: Timing) -> Credential:
    """The chosen credential, its files read; the others are named in `why`. With none
    configured, the ECS metadata service's (asked now)."""
    found = candidates.candidates(resolver.find)
    if not found:
        return _metadata(resolver, project, timing)
    chosen = candidates.choose(found)
    values = {part.setting.name: resolver.read(part) for part in chosen.parts}
    credential: Credential
    if chosen.kind == "token":
        credential = credentials.TokenAuth(values["token"], chosen.parts[0])
    elif chosen.kind == "aksk":
        credential = credentials.AkSkAuth(values, chosen.parts, project, utc_now(resolver))
    elif chosen.kind == "password":
        credential = _password(resolver, project, timing, values, chosen.parts)
    else:
        credential = _federation(resolver, project, timing, values, chosen)
    credential.why = compose(str.__add__, credential.why, candidates.also_found(found, chosen))
    return credential


def _metadata(resolver: Resolver, project: str, timing: Timing) -> Credential:
    """The ECS server's agency, from its metadata service: fetched now, as the probe that
    tells whether this is Huawei ECS at all (at most KPSTASK_METADATA_TIMEOUT when not)."""
    from kpstask.auth.metadata import DEFAULT_ENDPOINT, MetadataService, NotOnEcs
    from kpstask.auth.renewal import Renewing

    run = resolver.run
    disabled = optional(resolver, "metadata_disabled")
    if disabled is not None and disabled[0] == "true":
        raise candidates.no_credentials(
            _("the ECS metadata service is not asked ({source})").format(source=disabled[1])
        )
    url, source = optional(resolver, "metadata_endpoint") or (DEFAULT_ENDPOINT, "default")
    run.debug(
        "credentials: no token, AK/SK, password or OIDC login in the flags, the environment or the profile; "
        f"asking the ECS metadata service at {url} (KPSTASK_METADATA_DISABLED=true turns this off)"
    )
    probe = float((optional(resolver, "metadata_timeout") or ("1", ""))[0])
    service = MetadataService(
        transport(run, url, timing, direct=True),
        probe_timeout_s=probe,
        on_secret=run.add_secret,
        debug=run.debug,
        wall=resolver.wall,
    )
    renewing = Renewing(
        service.fetch,
        on_keys=lambda keys: run.add_secret(keys.secret, keys.security_token),
        debug=run.debug,
        what=_("ECS metadata credentials"),
        wall=resolver.wall,
    )
    try:
        renewing.current()
    except NotOnEcs as not_ecs:
        raise candidates.no_credentials(not_ecs.message) from None
    why = _("ECS metadata: temporary keys of the server's agency, from {url}").format(url=url)
    rows = [("metadata endpoint", url, source if source != "default" else _("default (KPSTASK_METADATA_ENDPOINT)"))]
    return credentials.KeysAuth(
        "metadata", renewing, parts=(), why=why, project_id=project, extra_rows=rows, now=utc_now(resolver)
    )


def utc_now(resolver: Resolver) -> Callable[[], datetime]:
    """The run's wall clock as a datetime, for X-Sdk-Date."""
    return lambda: datetime.fromtimestamp(resolver.wall(), timezone.utc)


ROW_LABELS = (N_("token cache"), N_("expires"))  # `config show`'s rows of credentials, for the catalogs


def token_cache(resolver: Resolver) -> tuple[Path | None, Row]:
    """The token cache's directory (None with --no-cache), and its `config show` row."""
    if resolver.flags.get("no_cache"):
        return None, ("token cache", _("off (--no-cache)"), "--no-cache")
    cache = config.cache_dir(resolver.run.env)
    return cache, ("token cache", str(cache / "tokens"), _("XDG_CACHE_HOME or ~/.cache"))


def given_rows(resolver: Resolver, *names: str) -> list[Row]:
    """The `config show` rows of the settings among `names` that are given."""
    return [row(found) for found in map(resolver.find, names) if found is not None]


def _federation(
    resolver: Resolver, project: str, timing: Timing, values: dict[str, str], chosen: Candidate
) -> Credential:
    """An ID token exchanged at IAM for a token, or at STS for an agency's keys."""
    source, source_row = _id_token_source(resolver, chosen, values, timing)
    if chosen.kind == "agency":
        return _agency(resolver, project, timing, values=values, chosen=chosen, source=source, source_row=source_row)
    run, idp = resolver.run, chosen.parts[0]
    url, iam_source = service_endpoint(resolver, "iam_endpoint")
    cache, cache_row = token_cache(resolver)
    rows = [source_row, ("iam endpoint", url, iam_source), cache_row]

    def login() -> TokenLogin:
        from kpstask.auth.federation import OidcLogin, cache_key, claims

        path = None
        if cache is not None:
            key = cache_key(url, values["idp_id"], claims(source.read(), source.where), project)
            path = cache / "tokens" / f"{key}.json"
        return OidcLogin(
            idp_id=values["idp_id"],
            source=source,
            transport=transport(run, url, timing),
            project_id=project,
            cache=path,
            on_token=run.add_secret,
            warn=run.warn,
            debug=run.debug,
            wall=resolver.wall,
        )

    why = _("OIDC: ID token from {where}, exchanged at IAM for identity provider {idp} ({source})").format(
        where=source.where, idp=values["idp_id"], source=idp.source
    )
    github = source.where == "GitHub Actions"  # its token is asked for, not read: config show sends nothing
    return credentials.LoginAuth("oidc", login, chosen.parts, why, rows, peek=not github)


def _agency(
    resolver: Resolver,
    project: str,
    timing: Timing,
    *,
    values: dict[str, str],
    chosen: Candidate,
    source: IdTokenSource,
    source_row: Row,
) -> Credential:
    """STS assume-with-oidc: an agency's temporary keys for the ID token, renewed."""
    from kpstask.auth.agency import DEFAULT_DURATION_S, DEFAULT_SESSION_NAME, AgencyKeys
    from kpstask.auth.renewal import Renewing
    from kpstask.auth.tokencache import Voice

    run = resolver.run
    url, sts_source = service_endpoint(resolver, "sts_endpoint")
    session = optional(resolver, "session_name")
    duration = optional(resolver, "duration")
    cache, cache_row = token_cache(resolver)
    keys = AgencyKeys(
        transport(run, url, timing),
        source,
        provider_urn=values["provider_urn"],
        agency_urn=values["agency_urn"],
        session_name=session[0] if session else DEFAULT_SESSION_NAME,
        duration_s=int(duration[0]) if duration else DEFAULT_DURATION_S,
        cache=cache,
        say=Voice(run.warn, run.debug),
        wall=resolver.wall,
    )
    renewing = Renewing(
        keys.fetch,
        on_keys=lambda got: run.add_secret(got.secret, got.security_token),
        debug=run.debug,
        what=_("the agency's credentials"),
        wall=resolver.wall,
    )
    why = _("OIDC agency: {agency} assumed at STS with the ID token from {where}").format(
        agency=values["agency_urn"], where=source.where
    )
    rows = [source_row, ("sts endpoint", url, sts_source), cache_row]
    rows += given_rows(resolver, "session_name", "duration")
    return credentials.KeysAuth(
        "agency", renewing, parts=chosen.parts, why=why, project_id=project, extra_rows=rows, now=utc_now(resolver)
    )


def _id_token_source(
    resolver: Resolver, chosen: Candidate, values: dict[str, str], timing: Timing
) -> tuple[IdTokenSource, Row]:
    """Where the ID token comes from: a file or variable (read now, so a wrong one is named
    with the other problems), else GitHub Actions (asked at the first request)."""
    from kpstask.auth import federation

    run = resolver.run
    common = {"on_secret": run.add_secret, "wall": resolver.wall}
    given = next((part for part in chosen.parts if part.setting.name in ("id_token_file", "id_token")), None)
    source: IdTokenSource | None
    if given is not None and given.setting.name == "id_token_file":
        source = federation.FileIdToken(values["id_token_file"], given.source, **common)
    elif given is not None:
        source = federation.GivenIdToken(values["id_token"], given.source, **common)
    else:
        audience = optional(resolver, "oidc_audience")
        source = federation.github_source(
            run.env, audience[0] if audience else None, lambda base: transport(run, base, timing), **common
        )
        if source is None:
            raise federation.no_id_token(chosen.parts[0].source, run.env)
        if audience:
            shown = _("audience {audience} ({source})").format(audience=audience[0], source=audience[1])
        else:
            shown = _("GitHub's default audience")
        return source, (
            "id token",
            "GitHub Actions",
            _("{url}, {audience}").format(url=federation.GITHUB_URL, audience=shown),
        )
    source.read()
    return source, ("id token", _("read at each renewal"), source.where)


def _password(
    resolver: Resolver, project: str, timing: Timing, values: dict[str, str], parts: tuple[Found, ...]
) -> Credential:
    url, source = service_endpoint(resolver, "iam_endpoint")
    run = resolver.run
    cache, cache_row = token_cache(resolver)
    rows = [("iam endpoint", url, source), cache_row]
    # Imported here, on the main thread: `login` runs at the first request, in a poll worker,
    # and a worker must never import (Ctrl-C on the main thread could leave an import lock taken).
    from kpstask.auth.iam import IamLogin, cache_file

    def login() -> TokenLogin:
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
