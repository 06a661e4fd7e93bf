"""Which credential is configured: the candidates the settings hold (a token, AK/SK, a
password login, an OIDC login or agency), the one that wins (the most explicit layer, then
the kinds' order), and the problem when there is none or half of one."""

from __future__ import annotations

from typing import NamedTuple

from kpstask.auth.credentials import KIND_ORDER, Finder, Kind
from kpstask.errors import UsageError
from kpstask.i18n import N_, _, compose, joined
from kpstask.settings import BY_NAME, Found, Problem, SettingsError, hint_row, one_of, short_where


class Candidate(NamedTuple):
    """A credential found (its files not read yet); half a credential is a problem
    only when it is the one that would be used."""

    kind: Kind
    parts: tuple[Found, ...]
    what: str
    problem: UsageError | None = None

    @property
    def layer(self) -> int:
        return min(part.layer for part in self.parts)


def candidates(find: Finder) -> list[Candidate]:
    found = [_token(find), _aksk(find), _password(find), _oidc(find)]
    return [candidate for candidate in found if candidate is not None]


def _token(find: Finder) -> Candidate | None:
    token = find("token")
    return None if token is None else Candidate("token", (token,), _("token from {source}").format(source=token.source))


def _aksk(find: Finder) -> Candidate | None:
    access, secret = find("access_key"), find("secret_key")
    if access is None and secret is None:
        return None
    if access is None or secret is None:
        half = access or secret
        assert half is not None
        said = (
            _("an access key is given ({source}) but not its secret key")
            if access
            else _("a secret key is given ({source}) but not its access key")
        )
        other = BY_NAME["secret_key" if access else "access_key"]
        problem = UsageError(
            said.format(source=half.source),
            hint=_("set the {label} too: {where}").format(label=_(other.label), where=short_where(other)),
        )
        return Candidate("aksk", (half,), _("half an AK/SK ({source})").format(source=half.source), problem)
    security = find("security_token", partner=access)
    parts = (access, secret) + ((security,) if security else ())
    return Candidate("aksk", parts, _("AK/SK (access key from {source})").format(source=access.source))


def _password(find: Finder) -> Candidate | None:
    names = ("user_name", "domain", "password")
    parts = {name: find(name) for name in names}
    present = tuple(found for found in parts.values() if found is not None)
    if not present:
        return None
    absent = [BY_NAME[name] for name, found in parts.items() if found is None]
    if absent:
        problem = UsageError(
            _("a password login needs a user name, a domain and a password; missing: {labels}").format(
                labels=joined(", ", [_(s.label) for s in absent])
            ),
            hint=joined("; ", [_("{label}: {where}").format(label=_(s.label), where=short_where(s)) for s in absent]),
        )
        return Candidate("password", present, _("part of a password login"), problem)
    return Candidate("password", present, _("password of user {user}").format(user=present[0].value))


def _oidc(find: Finder) -> Candidate | None:
    """An ID token exchanged at IAM (an identity provider), or at STS for an agency's keys.
    The token's own source is found later: a file, a variable, or GitHub Actions."""
    agency, idp = find("agency_urn"), find("idp_id")
    sources = [found for found in (find("id_token_file"), find("id_token")) if found is not None]
    source = (min(sources, key=lambda found: found.layer),) if sources else ()
    if agency is None and idp is None:
        if not source:
            return None
        problem = UsageError(
            _("an ID token is given ({source}) but no identity provider to exchange it at").format(
                source=source[0].source
            ),
            hint=_("set {where} (or, for an agency, KPSTASK_AGENCY_URN and its provider's URN)").format(
                where=short_where(BY_NAME["idp_id"])
            ),
        )
        return Candidate("oidc", source, _("half an OIDC login ({source})").format(source=source[0].source), problem)
    if agency is None:
        assert idp is not None
        said = _("OIDC login (identity provider from {source})").format(source=idp.source)
        return Candidate("oidc", (idp, *source), said)
    provider = find("provider_urn")
    what = _("OIDC agency (agency from {source})").format(source=agency.source)
    if provider is None:
        problem = UsageError(
            _("an agency to assume with OIDC is given ({source}) but not its identity provider's URN").format(
                source=agency.source
            ),
            hint=_("set the provider urn too: {where}").format(where=short_where(BY_NAME["provider_urn"])),
        )
        return Candidate("agency", (agency,), what, problem)
    return Candidate("agency", (agency, provider, *source), what)


# One line per way to give credentials: (name, the settings it needs).
WAY_WORDS = (N_("token"), N_("password"))  # the ways' names, as the hint list shows them
WAYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("token", ("token",)),
    ("AK/SK", ("access_key", "secret_key")),
    ("password", ("user_name", "domain", "password")),
    ("OIDC", ("idp_id", "id_token_file")),
)


def no_credentials(metadata: str) -> SettingsError:
    """Every way to give a credential, one short line each, from the table; `metadata`: why
    the last of them, the ECS metadata service, gave none."""
    hints = [hint_row(_("credentials"), _("one of (flags, variables or a profile, --profile):"))]
    for way, names in WAYS:
        settings = [BY_NAME[name] for name in names]
        if len(settings) == 1:
            where = short_where(settings[0])
        else:
            where = one_of([s.flag or s.env[0] for s in settings], "and")
        github = _(" (GitHub: id-token: write)") if way == "OIDC" else ""
        hints.append(hint_row(compose(lambda way: f"  {way}", _(way)), compose(str.__add__, where, github)))
    hints.append(hint_row("  ECS", _("an agency on this ECS server (its metadata service)")))
    message = _("no credentials given: no token, no access key, no password, no OIDC identity provider; {why}").format(
        why=metadata
    )
    return SettingsError([Problem("credentials", message, tuple(hints), missing=True)])


def choose(found: list[Candidate]) -> Candidate:
    """The credential to use among those configured (`found` is not empty)."""
    chosen = min(found, key=lambda c: (c.layer, KIND_ORDER[c.kind]))
    if chosen.problem is not None:
        raise chosen.problem
    return chosen


def also_found(found: list[Candidate], chosen: Candidate) -> str:
    others = [c.what for c in found if c is not chosen]
    if not others:
        return ""
    return _(
        "; also found, not used: {others} (a flag beats the environment, which beats the "
        "profile; then a token beats AK/SK, which beats a password, which beats an OIDC login)"
    ).format(others="; ".join(others))
