"""The built wheel carries every module: an editable install would hide a missing subpackage."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # builds a wheel: up to 9 s on a busy machine
def test_wheel_contains_every_module(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("kpstask-*.whl"))
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    source = {str(path.relative_to(ROOT)) for path in (ROOT / "kpstask").rglob("*.py")}
    assert source <= shipped, source - shipped
    catalogs = {str(path.relative_to(ROOT)) for path in (ROOT / "kpstask").rglob("*.mo")}
    assert catalogs and catalogs <= set(zipfile.ZipFile(wheel).namelist()), catalogs  # Chinese needs its .mo
