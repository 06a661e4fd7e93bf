"""Credentials, as Huawei Cloud users hold them: a token, an access key pair
(AK/SK, signed per request), or a user name and password (exchanged at IAM for a
token, cached). Which one, and from where, is decided here; no secret value ever
appears in a message: errors name sources, never values.

Each part comes from a flag, else the environment, else the profile. Among the
kinds, an explicit token wins, then AK/SK, then a password (the Terraform
provider's order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple, Protocol

from kpstask.config import Profile, read_secret_file
from kpstask.errors import UsageError

if TYPE_CHECKING:
    from kpstask.iam import IamLogin

TOKEN_ENV = ("KPSTASK_TOKEN", "HW_AUTH_TOKEN", "OS_AUTH_TOKEN")
# Each family is used whole: an access key from one and a security token from another would not match.
AKSK_ENV = (
    ("KPSTASK_ACCESS_KEY", "KPSTASK_SECRET_KEY", "KPSTASK_SECURITY_TOKEN"),
    ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
    ("HW_ACCESS_KEY", "HW_SECRET_KEY", "HW_SECURITY_TOKEN"),
)
PASSWORD_ENV = (
    ("KPSTASK_USERNAME", "KPSTASK_DOMAIN", "KPSTASK_PASSWORD"),
    ("HW_USER_NAME", "HW_DOMAIN_NAME", "HW_USER_PASSWORD"),
)
# Header names whose values are secrets, in any request or response.
SECRET_HEADERS = frozenset(
    {"x-auth-token", "authorization", "x-security-token", "x-subject-token", "cookie", "set-cookie"}
)


class Part(NamedTuple):
    """One credential value and where it came from."""

    value: str
    source: str


if TYPE_CHECKING:  # a Protocol costs a millisecond to define at start-up; only mypy needs it

    class Auth(Protocol):
        """What the HTTP client needs from a credential."""

        kind: str
        why: str  # for --debug and `config show`: which credential, from where, and why this kind

        def headers(self, method: str, host: str, path: str, query: list[tuple[str, object]]) -> dict[str, str]: ...

        def renew(self) -> bool:
            """After a 401: get fresh credentials, if that can help (a cached or expired token)."""
            ...

        def confirm(self) -> None:
            """The API accepted the credentials just sent."""
            ...

        def secrets(self) -> list[str]: ...


def clean_secret(raw: str, what: str) -> str:
    """Strip surrounding whitespace; refuse what cannot go into an HTTP header."""
    value = raw.strip()
    if not value:
        raise UsageError(f"{what} is empty")
    if any(not (" " <= ch <= "~") for ch in value):
        raise UsageError(
            f"{what} contains control or non-ASCII characters",
            hint="a secret is one line of printable ASCII; check the file or variable holds only it",
        )
    return value


class TokenAuth:
    """An IAM token, sent as X-Auth-Token."""

    kind = "token"

    def __init__(self, token: str, source: str, why: str = "") -> None:
        self.token = token
        self.source = source
        self.why = why or f"token from {source}"

    def __repr__(self) -> str:
        return f"TokenAuth(source={self.source!r}, token='***')"

    def headers(self, method: str, host: str, path: str, query: list[tuple[str, object]]) -> dict[str, str]:
        return {"X-Auth-Token": self.token}

    def renew(self) -> bool:
        return False

    def confirm(self) -> None:
        pass

    def secrets(self) -> list[str]:
        return [self.token]


class AkSkAuth:
    """An access key pair: every request signed with SDK-HMAC-SHA256."""

    kind = "aksk"

    def __init__(
        self,
        access_key: Part,
        secret_key: Part,
        security_token: Part | None,
        project_id: str,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.security_token = security_token
        self.project_id = project_id
        self.now = now or (lambda: datetime.now(timezone.utc))
        temporary = f", security token from {security_token.source}" if security_token else ""
        self.why = f"AK/SK: access key from {access_key.source}, secret key from {secret_key.source}{temporary}"

    def __repr__(self) -> str:
        return f"AkSkAuth(access_key={self.access_key.value!r}, secret_key='***')"

    def headers(self, method: str, host: str, path: str, query: list[tuple[str, object]]) -> dict[str, str]:
        from kpstask import signer

        headers = {"Host": host, "X-Sdk-Date": signer.sdk_date(self.now()), "X-Project-Id": self.project_id}
        if self.security_token is not None:
            headers["X-Security-Token"] = self.security_token.value
        return signer.sign(
            self.access_key.value, self.secret_key.value, method=method, path=path, query=query, headers=headers
        )

    def renew(self) -> bool:
        return False

    def confirm(self) -> None:
        pass

    def secrets(self) -> list[str]:
        return [self.secret_key.value] + ([self.security_token.value] if self.security_token else [])


class PasswordAuth:
    """A user name and password, exchanged at IAM for a project-scoped token (cached)."""

    kind = "password"

    def __init__(self, login: IamLogin, why: str, parts: tuple[Part, Part, Part]) -> None:
        self.login = login
        self.why = why
        self.parts = parts  # user name, domain, password: with their sources, for `config show`
        import threading

        self._used = threading.local()  # the token this thread last sent

    def __repr__(self) -> str:
        return f"PasswordAuth(user={self.login.user!r}, password='***')"

    def headers(self, method: str, host: str, path: str, query: list[tuple[str, object]]) -> dict[str, str]:
        self._used.token = self.login.token()
        return {"X-Auth-Token": self._used.token}

    def renew(self) -> bool:
        return self.login.renew(getattr(self._used, "token", None))

    def confirm(self) -> None:
        self.login.confirm(getattr(self._used, "token", None))

    def secrets(self) -> list[str]:
        return [self.login.password, *self.login.issued()]


class CredentialFlags(NamedTuple):
    token_file: str | None = None
    token: str | None = None
    secret_key_file: str | None = None
    password_file: str | None = None


# The first variable of each list that is set wins, as for every other setting.
ACCESS_KEY_ENV = tuple(family[0] for family in AKSK_ENV)
SECRET_KEY_ENV = tuple(family[1] for family in AKSK_ENV)
USER_ENV = tuple(family[0] for family in PASSWORD_ENV)
DOMAIN_ENV = tuple(family[1] for family in PASSWORD_ENV)
PASSWORD_VAR_ENV = tuple(family[2] for family in PASSWORD_ENV)
KIND_ORDER = {"token": 0, "aksk": 1, "password": 2}


def layer(source: str) -> int:
    """0 for a flag, 1 for the environment, 2 for the profile: lower is more explicit."""
    return 0 if source.startswith("--") else 1 if source.startswith("environment") else 2


def _found(
    flag: tuple[str | None, str], env: Mapping[str, str], names: tuple[str, ...], profile: Profile, key: str
) -> tuple[str, str] | None:
    """(value or path, source): the flag, else the first variable set, else the profile."""
    if flag[0] is not None:
        return flag[0], flag[1]
    name = next((name for name in names if name in env), None)
    if name is not None:
        return env[name], f"environment variable {name}"
    if key in profile.values:
        return profile.values[key], profile.source(key)
    return None


def _read(found: tuple[str, str] | None, what: str, warn: Callable[[str], None], file_key: bool) -> Part | None:
    """The secret itself: read from the file when the source names one (a flag or a profile)."""
    if found is None:
        return None
    value, source = found
    if file_key and not source.startswith("environment"):
        return Part(clean_secret(read_secret_file(value, source, warn), f"the {what} from {source} {value}"), source)
    return Part(clean_secret(value, f"the {what} from {source}"), source)


class _Candidate(NamedTuple):
    kind: str
    layer: int
    build: Callable[[], Auth]
    what: str
    problem: UsageError | None = None  # half a credential: an error only if it would have been used


def resolve_auth(
    flags: CredentialFlags,
    env: Mapping[str, str],
    profile: Profile,
    *,
    project_id: str,
    warn: Callable[[str], None],
    iam: Callable[[str, str, str, str], IamLogin],
) -> Auth:
    """The credential to use: the most explicit layer (flag, environment, profile) that
    holds a whole one, and within a layer a token, then AK/SK, then a password.
    `iam(user, domain, password, why)` makes the IAM login (which sends nothing yet)."""
    found = [c for c in (_token(flags, env, profile, warn), _aksk(flags, env, profile, project_id, warn)) if c]
    password = _password(flags, env, profile, warn, iam)
    if password is not None:
        found.append(password)
    if not found:
        raise UsageError(
            "no credentials given: no token, no access key, no user name and password",
            hint="a token: --token-file PATH (- for stdin), --token, or "
            + ", ".join(TOKEN_ENV)
            + "; an access key: KPSTASK_ACCESS_KEY/KPSTASK_SECRET_KEY or HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK"
            " or HW_ACCESS_KEY/HW_SECRET_KEY; a password: KPSTASK_USERNAME, KPSTASK_DOMAIN and "
            "KPSTASK_PASSWORD (or --password-file), or HW_USER_NAME, HW_DOMAIN_NAME, HW_USER_PASSWORD; "
            "or a profile in the config file",
        )
    chosen = min(found, key=lambda c: (c.layer, KIND_ORDER[c.kind]))
    if chosen.problem is not None:
        raise chosen.problem
    credential = chosen.build()
    others = [c.what for c in found if c is not chosen]
    if others:
        credential.why += (
            f"; also found, not used: {'; '.join(others)} (a flag beats the environment, which beats the "
            "profile; then a token beats AK/SK, which beats a password)"
        )
    return credential


def _token(
    flags: CredentialFlags, env: Mapping[str, str], profile: Profile, warn: Callable[[str], None]
) -> _Candidate | None:
    if flags.token_file is not None:
        raw = read_secret_file(flags.token_file, "--token-file", warn)
        part = Part(
            clean_secret(raw, f"the token from --token-file {flags.token_file}"), f"--token-file {flags.token_file}"
        )
    elif flags.token is not None:
        part = Part(clean_secret(flags.token, "the token from --token"), "--token")
    else:
        found = _found((None, ""), env, TOKEN_ENV, profile, "token_file")
        if found is None:
            return None
        part = _read(found, "token", warn, file_key=True)  # type: ignore[assignment]
    return _Candidate(
        "token", layer(part.source), lambda: TokenAuth(part.value, part.source), f"token from {part.source}"
    )


def _aksk(flags: CredentialFlags, env: Mapping[str, str], profile: Profile, project_id: str,
          warn: Callable[[str], None]) -> _Candidate | None:  # fmt: skip
    access = _read(_found((None, ""), env, ACCESS_KEY_ENV, profile, "access_key"), "access key", warn, False)
    secret_found = _found((flags.secret_key_file, "--secret-key-file"), env, SECRET_KEY_ENV, profile, "secret_key_file")
    secret = _read(secret_found, "secret key", warn, file_key=True)
    if access is None and secret is None:
        return None
    if access is None or secret is None:
        half = access or secret
        assert half is not None
        have, missing = ("an access key", "its secret key") if access else ("a secret key", "its access key")
        problem = UsageError(
            f"{have} is given ({half.source}) but not {missing}",
            hint="set KPSTASK_ACCESS_KEY and KPSTASK_SECRET_KEY (or --secret-key-file), "
            "or HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
        )
        return _Candidate("aksk", layer(half.source), _unusable(problem), f"half an AK/SK ({half.source})", problem)
    security = _security_token(access, env, profile, warn)
    return _Candidate(
        "aksk",
        min(layer(access.source), layer(secret.source)),
        lambda: AkSkAuth(access, secret, security, project_id),
        f"AK/SK (access key from {access.source})",
    )


def _unusable(problem: UsageError) -> Callable[[], Auth]:
    def build() -> Auth:
        raise problem

    return build


def _security_token(access: Part, env: Mapping[str, str], profile: Profile, warn: Callable[[str], None]) -> Part | None:
    """Temporary credentials: the security token of the access key's own family (or profile)."""
    for ak_name, _, token_name in AKSK_ENV:
        if access.source == f"environment variable {ak_name}" and token_name in env:
            return _read((env[token_name], f"environment variable {token_name}"), "security token", warn, False)
    if access.source.startswith("profile") and "security_token_file" in profile.values:
        found = (profile.values["security_token_file"], profile.source("security_token_file"))
        return _read(found, "security token", warn, file_key=True)
    return None


def _password(
    flags: CredentialFlags,
    env: Mapping[str, str],
    profile: Profile,
    warn: Callable[[str], None],
    iam: Callable[[str, str, str, str], IamLogin],
) -> _Candidate | None:
    user = _found((None, ""), env, USER_ENV, profile, "user_name")
    domain = _found((None, ""), env, DOMAIN_ENV, profile, "domain")
    password = _read(
        _found((flags.password_file, "--password-file"), env, PASSWORD_VAR_ENV, profile, "password_file"),
        "password",
        warn,
        file_key=True,
    )
    if user is None and domain is None and password is None:
        return None
    missing = [what for what, part in (("user name", user), ("domain", domain), ("password", password)) if not part]
    if missing:
        problem = UsageError(
            f"a password login needs a user name, a domain and a password; missing: {', '.join(missing)}",
            hint="KPSTASK_USERNAME, KPSTASK_DOMAIN, KPSTASK_PASSWORD (or --password-file)",
        )
        sources = [found[1] for found in (user, domain) if found] + ([password.source] if password else [])
        return _Candidate("password", min(map(layer, sources)), _unusable(problem), "part of a password login", problem)
    assert user is not None and domain is not None and password is not None
    why = f"password of user {user[0]} ({user[1]}), domain from {domain[1]}, password from {password.source}"
    return _Candidate(
        "password",
        min(layer(user[1]), layer(domain[1]), layer(password.source)),
        lambda: PasswordAuth(iam(user[0], domain[0], password.value, why), why, (Part(*user), Part(*domain), password)),
        f"password of user {user[0]}",
    )
