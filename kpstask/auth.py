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
            """After a 401: get fresh credentials once, if that can help (a cached token)."""
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

    def secrets(self) -> list[str]:
        return [self.secret_key.value] + ([self.security_token.value] if self.security_token else [])


class PasswordAuth:
    """A user name and password, exchanged at IAM for a project-scoped token (cached)."""

    kind = "password"

    def __init__(self, login: IamLogin, why: str) -> None:
        self.login = login
        self.why = why
        self._renewed = False

    def __repr__(self) -> str:
        return f"PasswordAuth(user={self.login.user!r}, password='***')"

    def headers(self, method: str, host: str, path: str, query: list[tuple[str, object]]) -> dict[str, str]:
        return {"X-Auth-Token": self.login.token()}

    def renew(self) -> bool:
        """Once, and only for a token that came from the cache: drop it and ask IAM again."""
        if self._renewed or not self.login.from_cache:
            return False
        self._renewed = True
        self.login.forget()
        self.login.token()
        return True

    def secrets(self) -> list[str]:
        return [self.login.password, *self.login.issued()]


class CredentialFlags(NamedTuple):
    token_file: str | None = None
    token: str | None = None
    secret_key_file: str | None = None
    password_file: str | None = None


def _env_family(env: Mapping[str, str], families: tuple[tuple[str, ...], ...]) -> tuple[str, ...] | None:
    """The first family of variables with any of them set."""
    return next((family for family in families if any(name in env for name in family)), None)


def _part(  # noqa: PLR0917 - one value's every possible source
    flag: str | None, flag_name: str, env: Mapping[str, str], name: str | None, profile: Profile, key: str
) -> tuple[str, str] | None:
    """(value or path, source) from a flag, the environment, or the profile."""
    if flag is not None:
        return flag, flag_name
    if name is not None and name in env:
        return env[name], f"environment variable {name}"
    if key in profile.values:
        return profile.values[key], profile.source(key)
    return None


def _read(found: tuple[str, str] | None, is_file: bool, what: str, warn: Callable[[str], None]) -> Part | None:
    if found is None:
        return None
    value, source = found
    if is_file:
        return Part(clean_secret(read_secret_file(value, source, warn), f"the {what} from {source} {value}"), source)
    return Part(clean_secret(value, f"the {what} from {source}"), source)


def _token(
    flags: CredentialFlags, env: Mapping[str, str], profile: Profile, warn: Callable[[str], None]
) -> Part | None:
    if flags.token_file is not None:
        raw = read_secret_file(flags.token_file, "--token-file", warn)
        return Part(
            clean_secret(raw, f"the token from --token-file {flags.token_file}"), f"--token-file {flags.token_file}"
        )
    if flags.token is not None:
        return Part(clean_secret(flags.token, "the token from --token"), "--token")
    name = next((name for name in TOKEN_ENV if name in env), None)
    if name is not None:
        return Part(
            clean_secret(env[name], f"the token from environment variable {name}"), f"environment variable {name}"
        )
    return _read(_part(None, "", env, None, profile, "token_file"), True, "token", warn)


def resolve_auth(
    flags: CredentialFlags,
    env: Mapping[str, str],
    profile: Profile,
    *,
    project_id: str,
    warn: Callable[[str], None],
    iam: Callable[[str, str, str, str], IamLogin],
) -> Auth:
    """The credential to use; `iam(user, domain, password, why)` makes the IAM login."""
    token = _token(flags, env, profile, warn)
    if token is not None:
        return TokenAuth(token.value, token.source)
    aksk = _env_family(env, AKSK_ENV) or (None, None, None)
    access = _read(_part(None, "", env, aksk[0], profile, "access_key"), False, "access key", warn)
    secret_flag = _part(flags.secret_key_file, "--secret-key-file", {}, None, profile, "secret_key_file")
    if aksk[1] is not None and aksk[1] in env and flags.secret_key_file is None:
        secret = _read((env[aksk[1]], f"environment variable {aksk[1]}"), False, "secret key", warn)
    else:
        secret = _read(secret_flag, True, "secret key", warn)
    if access is not None or secret is not None:
        if access is None or secret is None:
            have, missing = ("an access key", "its secret key") if access else ("a secret key", "its access key")
            raise UsageError(
                f"{have} is given ({(access or secret).source}) but not {missing}",  # type: ignore[union-attr]
                hint="set KPSTASK_ACCESS_KEY and KPSTASK_SECRET_KEY (or --secret-key-file), "
                "or HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
            )
        st_env = (aksk[2],) if aksk[2] else ()
        security = None
        name = next((n for n in st_env if n in env), None)
        if name is not None:
            security = _read((env[name], f"environment variable {name}"), False, "security token", warn)
        elif "security_token_file" in profile.values and access.source.startswith("profile"):
            security = _read(_part(None, "", {}, None, profile, "security_token_file"), True, "security token", warn)
        return AkSkAuth(access, secret, security, project_id)
    return _password(flags, env, profile, warn, iam)


def _password(
    flags: CredentialFlags,
    env: Mapping[str, str],
    profile: Profile,
    warn: Callable[[str], None],
    iam: Callable[[str, str, str, str], IamLogin],
) -> Auth:
    family = _env_family(env, PASSWORD_ENV) or (None, None, None)
    user = _part(None, "", env, family[0], profile, "user_name")
    domain = _part(None, "", env, family[1], profile, "domain")
    if flags.password_file is not None:
        password = _read((flags.password_file, "--password-file"), True, "password", warn)
    elif family[2] is not None and family[2] in env:
        password = _read((env[family[2]], f"environment variable {family[2]}"), False, "password", warn)
    else:
        password = _read(_part(None, "", {}, None, profile, "password_file"), True, "password", warn)
    if user is None and domain is None and password is None:
        raise UsageError(
            "no credentials given: no token, no access key, no user name and password",
            hint="a token: --token-file PATH (- for stdin), --token, or "
            + ", ".join(TOKEN_ENV)
            + "; an access key: KPSTASK_ACCESS_KEY/KPSTASK_SECRET_KEY or HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK"
            " or HW_ACCESS_KEY/HW_SECRET_KEY; a password: KPSTASK_USERNAME, KPSTASK_DOMAIN and "
            "KPSTASK_PASSWORD (or --password-file), or HW_USER_NAME, HW_DOMAIN_NAME, HW_USER_PASSWORD; "
            "or a profile in the config file",
        )
    missing = [what for what, part in (("user name", user), ("domain", domain), ("password", password)) if not part]
    if missing:
        raise UsageError(
            f"a password login needs a user name, a domain and a password; missing: {', '.join(missing)}",
            hint="KPSTASK_USERNAME, KPSTASK_DOMAIN, KPSTASK_PASSWORD (or --password-file)",
        )
    assert user is not None and domain is not None and password is not None
    why = f"password of user {user[0]} ({user[1]}), domain from {domain[1]}, password from {password.source}"
    return PasswordAuth(iam(user[0], domain[0], password.value, why), why)
