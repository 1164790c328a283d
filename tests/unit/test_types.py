"""mypy strict over the shipped packages, as pyproject.toml configures it: a type error fails
the suite, so CI runs the check `make lint` runs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_checks_every_shipped_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    shipped = [p.rstrip("*") for p in config["setuptools"]["packages"]["find"]["include"]]
    assert config["mypy"]["strict"] is True
    assert sorted(config["mypy"]["packages"]) == sorted(shipped)


def test_mypy_passes() -> None:
    # The cache (.mypy_cache, per checkout) brings a repeat run from ~20 s to a few seconds.
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"
