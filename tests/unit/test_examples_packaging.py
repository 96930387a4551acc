"""``examples/`` runs from a checkout: type-checked and linted, never installed."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_setuptools_does_not_install_the_examples() -> None:
    # setuptools matches package names against these patterns (fnmatch).
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert any(fnmatchcase("observatory", pattern) for pattern in include)
    for name in ("examples", "examples.fetcher"):
        assert not any(fnmatchcase(name, pattern) for pattern in include), name
    assert (ROOT / "examples" / "fetcher" / "__init__.py").is_file()


def test_mypy_and_import_linter_cover_the_examples() -> None:
    assert "examples" in PYPROJECT["tool"]["mypy"]["files"]
    assert "examples" in PYPROJECT["tool"]["importlinter"]["root_packages"]
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    (public_only,) = [c for c in contracts if c.get("source_modules") == ["examples"]]
    assert set(public_only["forbidden_modules"]) == {"actors", "quart_app", "launcher", "contracts"}
