"""Loading the user's apps: ``--app``, ``OBSERVATORY_APP``, entry points, import errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from actors.domain.handlers import DEFAULT_REGISTRY
from launcher.apps import ENTRY_POINT_GROUP, AppLoadError, app_names, load_apps

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[3]
SAMPLE_TYPES = {
    "sample-async",
    "sample-block",
    "sample-cpu",
    "sample-pair",
    "sample-refuse",
    "sample-sync",
    "sample-typed",
    "sample-typed-file",
}


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    """Leave the process-wide registry and the imported modules as they were."""
    handlers = dict(DEFAULT_REGISTRY._handlers)
    modules = set(sys.modules)
    path = list(sys.path)
    try:
        yield
    finally:
        DEFAULT_REGISTRY._handlers = handlers
        for name in set(sys.modules) - modules:
            if name.startswith("tests.apps"):
                del sys.modules[name]
        sys.path[:] = path


def test_names_come_from_the_flags_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVATORY_APP", " a.jobs, b.jobs:registry ,,a.jobs")
    assert app_names(None) == ("a.jobs", "b.jobs:registry")
    assert app_names(["c", "c", "d"]) == ("c", "d")
    monkeypatch.delenv("OBSERVATORY_APP")
    assert app_names([]) == ()


def test_a_module_registers_its_handlers_on_import() -> None:
    loaded = load_apps(["tests.apps.sample"], load_entry_points=False)

    assert set(loaded.registry.types()) == {"compute", "echo", "fail", "gate", "sleep"} | (
        SAMPLE_TYPES
    )
    assert loaded.named == ("tests.apps.sample",)
    assert loaded.registry is not DEFAULT_REGISTRY


def test_module_colon_attribute_names_a_registry_of_its_own() -> None:
    loaded = load_apps(["tests.apps.sample:registry"], load_entry_points=False)

    assert "sample-own" in loaded.registry.types()
    assert "sample-own" not in DEFAULT_REGISTRY.types()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "tests.apps.broken",
            "Cannot load app 'tests.apps.broken': importing 'tests.apps.broken' raised "
            "RuntimeError: the database password file /nonexistent is missing",
        ),
        (
            "tests.apps.missing",
            "Cannot load app 'tests.apps.missing': importing 'tests.apps.missing' raised "
            "ModuleNotFoundError: No module named 'tests.apps.missing'",
        ),
        (
            "tests.apps.sample:nothing",
            "Cannot load app 'tests.apps.sample:nothing': module 'tests.apps.sample' has no "
            "attribute 'nothing'.",
        ),
        (
            "tests.apps.sample:TYPED_SCHEMA",
            "Cannot load app 'tests.apps.sample:TYPED_SCHEMA': it names a dict, not a "
            "HandlerRegistry or a module.",
        ),
    ],
)
def test_an_app_that_cannot_load_says_which_and_why(name: str, message: str) -> None:
    with pytest.raises(AppLoadError) as caught:
        load_apps([name], load_entry_points=False)
    assert str(caught.value) == message


def _install(site: Path, name: str, target: str) -> None:
    """A distribution in ``site`` declaring ``name = target`` in our entry point group."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{name} = {target}\n")


def test_entry_points_of_installed_packages_load_automatically(tmp_path: Path) -> None:
    _install(tmp_path, "sampleplugin", "tests.apps.sample:registry")
    sys.path.insert(0, str(tmp_path))

    loaded = load_apps([])

    assert loaded.named == ()
    assert "sampleplugin" in loaded.entry_points
    assert "sample-own" in loaded.registry.types()


def test_a_broken_entry_point_names_itself(tmp_path: Path) -> None:
    _install(tmp_path, "brokenplugin", "tests.apps.broken")
    sys.path.insert(0, str(tmp_path))

    with pytest.raises(AppLoadError, match=r"^Cannot load entry point 'brokenplugin' "):
        load_apps([])


@pytest.mark.parametrize("command", [["up"], ["serve", "processor"], ["serve", "gateway"]])
def test_the_command_exits_2_with_one_line(command: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "launcher.cli", *command, "--app", "tests.apps.broken"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "observatory: error: Cannot load app 'tests.apps.broken': importing "
        "'tests.apps.broken' raised RuntimeError: the database password file /nonexistent "
        "is missing"
    ]
