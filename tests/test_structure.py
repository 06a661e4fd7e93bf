"""The shape of the code, checked: no import circle, short modules and functions,
no private typer imports, every command in the lazy-load map, every setting of the
table documented in `--help`, `config show` and docs/settings-and-credentials.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer

from kpstask.cli import COMMANDS, app
from kpstask.output.machine import HUMAN_ONLY
from kpstask.settings import SETTINGS
from kpstask.simulator import Scenario, Simulator
from tests.conftest import PROJECT, run

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kpstask"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 40


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(path: Path) -> set[str]:
    """Every kpstask module this one imports: at the top, inside functions, or for type checking."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


def test_no_import_circle() -> None:
    graph = {name: imported(path) for name, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != "open", "import circle: " + " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_are_short(name: str) -> None:
    source = MODULES[name].read_text(encoding="utf-8")
    assert source.count("\n") <= MAX_MODULE_LINES, f"{name}: {source.count(chr(10))} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # The body only: typer commands declare their options in the signature.
            body = node.end_lineno - node.body[0].lineno + 1  # type: ignore[operator]
            assert body <= MAX_FUNCTION_LINES, f"{name}.{node.name}: {body} lines"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_typer_or_click_imports(name: str) -> None:
    for module in imported_names(MODULES[name]):
        assert not module.startswith(("typer._", "click")), f"{name} imports {module}"
    assert "typer._" not in MODULES[name].read_text(encoding="utf-8"), name


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_command_is_in_the_lazy_load_map() -> None:
    group = typer.main.get_command(app)
    assert set(group.commands) == set(COMMANDS)  # type: ignore[attr-defined]


# -- the settings table reaches every place a user looks ---------------------------------

SETTINGS_PAGE = (ROOT / "docs" / "settings-and-credentials.md").read_text(encoding="utf-8")


def test_every_setting_is_in_config_show_help() -> None:
    # A block per setting: its label on a line of its own, then its flags, variables and
    # profile key on the lines indented under it, up to the next label.
    lines = run("config", "show", "--help").stdout.split("Settings: ", 1)[1].splitlines()
    labels = [index for index, text in enumerate(lines) if text.startswith("    ") and text[4] != " "]
    blocks = {lines[at].strip(): lines[at + 1 : end] for at, end in zip(labels, [*labels[1:], len(lines)], strict=True)}
    for setting in SETTINGS:
        assert setting.label in blocks, setting.label
        names = " ".join(blocks[setting.label]).replace(",", " ").split()
        for name in (*setting.env, setting.profile_key, setting.flag, setting.short, setting.file_flag):
            assert name is None or name in names or f"({name})" in names, (setting.label, name)


def test_every_flag_of_the_table_is_an_option_with_its_variables() -> None:
    shown = " ".join(run("get", "--help").stdout.split())
    for setting in SETTINGS:
        for flag in (setting.flag, setting.file_flag):
            if flag:
                assert flag in shown, flag
        if setting.flag or setting.file_flag:
            assert f"[env: {', '.join(setting.env)}]" in shown, setting.label


def test_every_setting_is_in_the_settings_page() -> None:
    for setting in SETTINGS:
        for name in setting.env:
            assert re.search(f"`{name}[`=]", SETTINGS_PAGE), name
        if setting.profile_key:
            assert f"`{setting.profile_key}`" in SETTINGS_PAGE, setting.profile_key
        for flag in (setting.flag, setting.file_flag):
            if flag:
                assert f"`{flag}" in SETTINGS_PAGE or f", {flag}" in SETTINGS_PAGE, flag


def jwt() -> str:
    import base64
    import json

    claims = base64.urlsafe_b64encode(json.dumps({"iss": "i", "sub": "s", "aud": "a", "exp": 4e9}).encode())
    return f"eyJhbGciOiJIUzI1NiJ9.{claims.decode().rstrip('=')}.c2ln"


ID_TOKEN_FILE = "ID_TOKEN_FILE"  # replaced by a file of the test's own
CREDENTIAL_SETUPS = [
    {"KPSTASK_TOKEN": "tok-123456"},
    {"KPSTASK_METADATA_ENDPOINT": "SIMULATOR", "KPSTASK_METADATA_TIMEOUT": "2", "KPSTASK_METADATA_DISABLED": "false"},
    {"KPSTASK_IDP_ID": "github", "KPSTASK_ID_TOKEN": jwt(), "KPSTASK_IAM_ENDPOINT": "https://iam.example.com"},
    {
        "KPSTASK_IDP_ID": "github",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh.example.com/t?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "req-1234567",
        "KPSTASK_OIDC_AUDIENCE": "kpstask",
    },
    {
        "KPSTASK_AGENCY_URN": "iam::1:agency:a",
        "KPSTASK_PROVIDER_URN": "iam::1:identityProvider:p",
        "KPSTASK_ID_TOKEN_FILE": ID_TOKEN_FILE,
        "KPSTASK_SESSION_NAME": "ci",
        "KPSTASK_DURATION_SECONDS": "900",
        "KPSTASK_STS_ENDPOINT": "https://sts.example.com",
    },
    {"KPSTASK_ACCESS_KEY": "AKEXAMPLE0000000", "KPSTASK_SECRET_KEY": "sk-123456", "KPSTASK_SECURITY_TOKEN": "st-1234"},
    {"KPSTASK_USERNAME": "alice", "KPSTASK_DOMAIN": "acme", "KPSTASK_PASSWORD": "pw-123456"},
]


def test_every_setting_can_show_in_config_show(tmp_path: Path) -> None:
    labels: set[str] = set()
    token_file = tmp_path / "id-token"
    token_file.write_text(jwt())
    with Simulator(Scenario()) as sim:  # the ECS metadata service
        places = {ID_TOKEN_FILE: str(token_file), "SIMULATOR": sim.url}
        for credential in CREDENTIAL_SETUPS:
            env = {"KPSTASK_REGION": "cn-north-4", "KPSTASK_PROJECT_ID": PROJECT, **credential}
            env = {name: places.get(value, value) for name, value in env.items()}
            result = run("config", "show", "-o", "tsv", env=env, with_defaults=False)
            assert result.exit_code == 0, result.stderr
            labels |= {line.split("\t")[0] for line in result.stdout.splitlines()}
    # The language is a row a person reads, not a script (kpstask.output.machine.HUMAN_ONLY).
    assert {setting.label for setting in SETTINGS} - HUMAN_ONLY <= labels
    assert all(label in run("config", "show").stdout for label in HUMAN_ONLY)
