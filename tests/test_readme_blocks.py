"""The shell blocks of the README and of `docs/` stay runnable: each fenced `sh` block is marked,
right above it, as one the tests run (`<!-- sh: run -->`), one that needs a real Huawei Cloud
account, an install step (CI runs the test command verbatim), or an interactive one. The `run`
blocks are run here, verbatim, with bash, against the simulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kpstask.simulator import Simulator, default_scenario

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
KINDS = ("run", "real account", "install", "interactive")
FENCE = re.compile(r"(?:<!-- sh: ([a-z ]+) -->\n)?```sh\n(.*?)```", re.S)
BLOCKS = [(page.name, kind, body) for page in PAGES for kind, body in FENCE.findall(page.read_text(encoding="utf-8"))]
SIMULATOR = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def test_every_shell_block_is_marked() -> None:
    assert len(BLOCKS) >= 10
    assert {page for page, _, _ in BLOCKS} >= {"README.md", "simulator.md", "ci.md"}
    for page, kind, body in BLOCKS:
        assert kind in KINDS, f"{page}: unmarked or unknown mark {kind!r} above:\n{body}"


def expected_exit(body: str) -> int:
    """`# exit N` on the last command says how the block ends; else 0."""
    last = [line for line in body.splitlines() if line.strip() and not line.startswith("#")][-1]
    found = re.search(r"# exit (\d+)", last)
    return int(found.group(1)) if found else 0


@pytest.mark.slow  # a shell, the simulator and several commands on a real clock: up to 11 s
@pytest.mark.parametrize(
    ("page", "body"), [(page, body) for page, kind, body in BLOCKS if kind == "run"], ids=lambda x: x[:40]
)
def test_a_run_block_runs_against_the_simulator(page: str, body: str, tmp_path: Path) -> None:
    # the blocks that use `scenario.json` get the one under "Scenarios" in docs/simulator.md
    scenario = SIMULATOR.split("\n## Scenarios\n", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    (tmp_path / "scenario.json").write_text(scenario)
    json.loads(scenario)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
    env.update(PATH=f"{BIN}:{env['PATH']}", XDG_CACHE_HOME=str(tmp_path / "cache"), KPSTASK_METADATA_DISABLED="true")
    plan = default_scenario()
    with Simulator(plan) as sim:  # for the blocks that say "with sim.env sourced"
        env.update(KPSTASK_ENDPOINT=sim.url, KPSTASK_PROJECT_ID=plan.project_id, KPSTASK_TOKEN=plan.token)
        proc = subprocess.run(
            ["bash", "-c", body], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    assert proc.returncode == expected_exit(body), f"{page}: {proc.stderr}"
    for bad in ("Traceback", "command not found", "this is a bug", "No such file"):
        assert bad not in proc.stderr, f"{page}: {proc.stderr}"
