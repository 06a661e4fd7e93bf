"""The settings table: every setting, one row each — its label, its help, its environment
variables in order of precedence, its profile key, its flag, its check, and whether it is a
secret. Data only; `kpstask.settings` resolves them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from kpstask.i18n import N_
from kpstask.settings import endpoints as ep

Check = Callable[[str, str, str, "ep.Checks"], str]


class Setting(NamedTuple):
    name: str  # also the flag's parameter name; a file flag's is `{name}_file`
    label: str  # how `config show` and messages call it
    help: str  # for --help, without the [env: ...] part
    env: tuple[str, ...] = ()
    profile_key: str | None = None  # a secret's key names a file that holds it
    flag: str | None = None
    short: str | None = None
    file_flag: str | None = None  # read from a file (- for stdin)
    metavar: str = "VALUE"
    check: Check = ep.check_text
    secret: bool = False
    family: str | None = None  # take the environment variable at the same place as this setting's
    shown: Callable[[str], str] | None = None  # how `config show` shows a value that is not a secret
    everywhere: bool = False  # its flag is on every command (added by kpstask.cli.root), read before parsing


def abbreviated(value: str) -> str:
    """`HPUA...9XYZ`: enough to tell keys apart, not enough to use one."""
    return value[:4] + "..." + value[-4:] if len(value) > 12 else "***"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "region",
        N_("region"),
        N_("Region id, e.g. cn-north-4."),
        env=("KPSTASK_REGION", "HW_REGION_NAME", "OS_REGION_NAME"),
        profile_key="region",
        flag="--region",
        short="-r",
        metavar="REGION",
        check=ep.check_region,
    ),
    Setting(
        "endpoint",
        N_("endpoint"),
        N_(
            "Base URL; overrides --region (proxies, private endpoints, a local simulator). "
            "http:// only to loopback hosts."
        ),
        env=("KPSTASK_ENDPOINT",),
        profile_key="endpoint",
        flag="--endpoint",
        metavar="URL",
        check=ep.check_url,
        shown=ep.without_password,
    ),
    Setting(
        "project_id",
        N_("project id"),
        N_("Project id, 32 hex characters."),
        env=("KPSTASK_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID", "HW_PROJECT_ID"),
        profile_key="project_id",
        flag="--project-id",
        short="-p",
        metavar="ID",
        check=ep.check_project,
    ),
    Setting(
        "token",
        N_("token"),
        N_("The IAM token itself. Visible in process lists and shell history: prefer --token-file or the environment."),
        env=("KPSTASK_TOKEN", "HW_AUTH_TOKEN", "OS_AUTH_TOKEN"),
        profile_key="token_file",
        flag="--token",
        file_flag="--token-file",
        metavar="TOKEN",
        check=ep.check_secret,
        secret=True,
    ),
    Setting(
        "access_key",
        N_("access key"),
        N_("The AK/SK access key."),
        env=("KPSTASK_ACCESS_KEY", "HUAWEICLOUD_SDK_AK", "HW_ACCESS_KEY"),
        profile_key="access_key",
        check=ep.check_secret,
        shown=abbreviated,
    ),
    Setting(
        "secret_key",
        N_("secret key"),
        N_("The AK/SK secret key."),
        env=("KPSTASK_SECRET_KEY", "HUAWEICLOUD_SDK_SK", "HW_SECRET_KEY"),
        profile_key="secret_key_file",
        file_flag="--secret-key-file",
        check=ep.check_secret,
        secret=True,
    ),
    Setting(
        "security_token",
        N_("security token"),
        N_("The security token of temporary AK/SK credentials."),
        env=("KPSTASK_SECURITY_TOKEN", "HUAWEICLOUD_SDK_SECURITY_TOKEN", "HW_SECURITY_TOKEN"),
        profile_key="security_token_file",
        check=ep.check_secret,
        secret=True,
        family="access_key",
    ),
    Setting(
        "user_name",
        N_("user name"),
        N_("The IAM user name of a password login."),
        env=("KPSTASK_USERNAME", "HW_USER_NAME"),
        profile_key="user_name",
    ),
    Setting(
        "domain",
        N_("domain"),
        N_("The account (domain) name of a password login."),
        env=("KPSTASK_DOMAIN", "HW_DOMAIN_NAME"),
        profile_key="domain",
    ),
    Setting(
        "password",
        N_("password"),
        N_("The IAM password."),
        env=("KPSTASK_PASSWORD", "HW_USER_PASSWORD"),
        profile_key="password_file",
        file_flag="--password-file",
        check=ep.check_secret,
        secret=True,
    ),
    Setting(
        "idp_id",
        N_("idp id"),
        N_("OpenID Connect identity provider in IAM: exchange an ID token for credentials."),
        env=("KPSTASK_IDP_ID", "HUAWEICLOUD_SDK_IDP_ID"),
        profile_key="idp_id",
        flag="--idp-id",
        metavar="ID",
        check=ep.check_name,
    ),
    Setting(
        "id_token",
        N_("id token"),
        N_("The OIDC ID token itself."),
        env=("KPSTASK_ID_TOKEN", "HUAWEICLOUD_OIDC_ID_TOKEN"),
        check=ep.check_secret,
        secret=True,
    ),
    Setting(
        "id_token_file",
        N_("id token file"),
        N_("File holding the OIDC ID token, re-read at each renewal (GitLab id_tokens, Kubernetes)."),
        env=("KPSTASK_ID_TOKEN_FILE", "HUAWEICLOUD_SDK_ID_TOKEN_FILE", "HUAWEICLOUD_OIDC_TOKEN_FILE"),
        profile_key="id_token_file",
        flag="--id-token-file",
        metavar="PATH",
        check=ep.check_path,
    ),
    Setting(
        "oidc_audience",
        N_("oidc audience"),
        N_("Audience of the ID token kpstask asks GitHub Actions for."),
        env=("KPSTASK_OIDC_AUDIENCE",),
        profile_key="oidc_audience",
        flag="--oidc-audience",
        metavar="AUDIENCE",
        check=ep.check_name,
    ),
    Setting(
        "agency_urn",
        N_("agency urn"),
        N_("Assume this agency with the ID token (STS assume-with-oidc)."),
        env=("KPSTASK_AGENCY_URN", "HUAWEICLOUD_OIDC_AGENCY_URN"),
        profile_key="agency_urn",
        check=ep.check_name,
    ),
    Setting(
        "provider_urn",
        N_("provider urn"),
        N_("The identity provider's URN, for assume-with-oidc."),
        env=("KPSTASK_PROVIDER_URN", "HUAWEICLOUD_OIDC_PROVIDER_URN"),
        profile_key="provider_urn",
        check=ep.check_name,
    ),
    Setting(
        "session_name",
        N_("session name"),
        N_("The agency session's name (default: kpstask)."),
        env=("KPSTASK_SESSION_NAME", "HUAWEICLOUD_OIDC_SESSION_NAME"),
        profile_key="session_name",
        check=ep.check_name,
    ),
    Setting(
        "duration",
        N_("duration"),
        N_("Lifetime asked of assume-with-oidc credentials, seconds (default 3600)."),
        env=("KPSTASK_DURATION_SECONDS", "HUAWEICLOUD_OIDC_DURATION_SECONDS"),
        check=ep.check_duration,
    ),
    Setting(
        "sts_endpoint",
        N_("sts endpoint"),
        N_("STS for assume-with-oidc (default: the region's)."),
        env=("KPSTASK_STS_ENDPOINT", "HUAWEICLOUD_SDK_STS_ENDPOINT"),
        profile_key="sts_endpoint",
        check=ep.check_url,
        shown=ep.without_password,
    ),
    Setting(
        "iam_endpoint",
        N_("iam endpoint"),
        N_("IAM for password logins and OIDC (default: the region's)."),
        env=("KPSTASK_IAM_ENDPOINT", "HUAWEICLOUD_SDK_IAM_ENDPOINT"),
        profile_key="iam_endpoint",
        flag="--iam-endpoint",
        metavar="URL",
        check=ep.check_url,
        shown=ep.without_password,
    ),
    Setting(
        "metadata_endpoint",
        N_("metadata endpoint"),
        N_("The ECS metadata service (default: http://169.254.169.254)."),
        env=("KPSTASK_METADATA_ENDPOINT",),
        profile_key="metadata_endpoint",
        check=ep.check_metadata_url,
    ),
    Setting(
        "metadata_disabled",
        N_("metadata disabled"),
        N_("true: never ask the ECS metadata service for credentials."),
        env=("KPSTASK_METADATA_DISABLED",),
        check=ep.check_bool,
    ),
    Setting(
        "metadata_timeout",
        N_("metadata timeout"),
        N_("Seconds the first metadata request may take before kpstask decides it is not on ECS (default 1)."),
        env=("KPSTASK_METADATA_TIMEOUT",),
        check=ep.check_seconds,
    ),
    Setting(
        "lang",
        N_("language"),
        N_(
            "Language of what a person reads: en or zh (also zh-CN, zh_CN, zh-Hans, cn); "
            "default: from LC_ALL, LC_MESSAGES or LANG. Never changes JSON or TSV."
        ),
        env=("KPSTASK_LANG",),
        profile_key="lang",
        flag="--lang",
        metavar="LANG",
        check=ep.check_language,
        everywhere=True,
    ),
    Setting("config", N_("config file"), N_("The config file."), env=("KPSTASK_CONFIG",)),
    Setting(
        "profile",
        N_("profile"),
        N_("Profile of the config file to use (default: default)."),
        env=("KPSTASK_PROFILE",),
        flag="--profile",
        metavar="NAME",
    ),
)
