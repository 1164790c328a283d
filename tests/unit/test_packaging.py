"""The installed (non-editable) package, as the Docker image gets it, must carry every data
file the code reads: pyproject's package-data has to cover each non-Python file."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_package_data_covers_every_data_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["*"]
    packages = [p.rstrip("*") for p in config["packages"]["find"]["include"]]
    data_files = [
        path
        for top in packages
        for path in (ROOT / top).rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    ]
    assert data_files, "expected the Avro schemas at least"


    def in_package(path: Path) -> str:
        # setuptools reads a pattern relative to the package holding the file (its nearest
        # folder with an __init__.py): "templates/*.html" for app/views/templates/page.html
        folder = path.parent
        while not (folder / "__init__.py").is_file():
            folder = folder.parent
        return path.relative_to(folder).as_posix()

    uncovered = [
        str(path.relative_to(ROOT))
        for path in data_files
        if not any(fnmatch.fnmatch(in_package(path), pattern) for pattern in patterns)
    ]
    assert uncovered == []


def test_the_wheel_holds_the_shipped_packages_and_no_development_tooling() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["packages"]["find"]["include"]

    def packaged(package: str) -> bool:
        return any(fnmatch.fnmatch(package, pattern) for pattern in patterns)

    assert [p for p in ("app", "runtime", "agents", "stores", "tables", "models") if not packaged(p)] == []
    assert [p for p in ("devtools", "tests", "bench", "alembic") if packaged(p)] == []


def test_every_shipped_package_is_marked_typed() -> None:
    # PEP 561: without py.typed a type checker ignores the annotations of the installed package.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in config["packages"]["find"]["include"]]
    assert [p for p in packages if not (ROOT / p / "py.typed").is_file()] == []
    assert "py.typed" in config["package-data"]["*"]
