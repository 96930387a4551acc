"""The dependency locks: complete for pyproject.toml, hash-pinned, and used everywhere.

``scripts/lock`` writes ``requirements/lock.txt`` (runtime) and
``requirements/dev-lock.txt`` (runtime + test + lint) with uv; these tests fail when
pyproject.toml names a dependency a lock lacks or pins outside its range, so the lock is
refreshed in the same change.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
LOCK = ROOT / "requirements" / "lock.txt"
DEV_LOCK = ROOT / "requirements" / "dev-lock.txt"
PROJECT = "task-observatory"
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
PLATFORMS = ("linux", "darwin", "win32")

# One pinned requirement: "name==version [; marker] \" and its "--hash=sha256:..." lines.
_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)"
    r"(?:\s*;\s*(?P<marker>[^\\\n]+))?\s*(?P<rest>(?:\\\n\s+--hash=\S+[ \t]*)+)",
    re.MULTILINE,
)

Pin = tuple[str, str, str]  # (canonical name, version, marker or "")


def _pins(lock: Path) -> list[Pin]:
    text = lock.read_text()
    pins: list[Pin] = []
    for match in _ENTRY.finditer(text):
        hashes = re.findall(r"--hash=sha256:[0-9a-f]{64}", match["rest"])
        assert hashes, f"{lock.name}: {match['name']}=={match['version']} has no sha256 hash"
        marker = (match["marker"] or "").strip()
        pins.append((canonicalize_name(match["name"]), match["version"], marker))
    assert pins, f"{lock.name} pins nothing"
    # Every requirement line is a pin: nothing unpinned or unhashed slipped in.
    requirement_lines = [
        line for line in text.splitlines() if line and not line.startswith((" ", "#"))
    ]
    assert len(requirement_lines) == len(pins), f"{lock.name} has lines that are not hashed pins"
    return pins


def _environments() -> list[dict[str, str]]:
    return [
        {
            "python_version": version,
            "python_full_version": f"{version}.0",
            "sys_platform": platform,
            "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[platform],
            "platform_python_implementation": "CPython",
            "implementation_name": "cpython",
            "os_name": "nt" if platform == "win32" else "posix",
            "extra": "",
        }
        for version in SUPPORTED_PYTHONS
        for platform in PLATFORMS
    ]


def _installed(pins: list[Pin], environment: dict[str, str]) -> dict[str, str]:
    """What pip installs from the lock in one environment: name -> version."""
    chosen: dict[str, str] = {}
    for name, version, marker in pins:
        if marker and not Marker(marker).evaluate(environment):
            continue
        assert name not in chosen, f"{name} is pinned twice for {environment}"
        chosen[name] = version
    return chosen


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]  # type: ignore[no-any-return]


def _requirements(*extras: str) -> list[Requirement]:
    project = _pyproject()
    dependencies = project["dependencies"]
    optional = project["optional-dependencies"]
    assert isinstance(dependencies, list)
    assert isinstance(optional, dict)
    lines = list(dependencies) + [line for extra in extras for line in optional[extra]]
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if canonicalize_name(r.name) != PROJECT]


@pytest.mark.parametrize(
    ("lock", "extras"), [(LOCK, ()), (DEV_LOCK, ("test", "lint"))], ids=["lock", "dev-lock"]
)
def test_every_dependency_of_pyproject_is_pinned_in_range_on_every_supported_python(
    lock: Path, extras: tuple[str, ...]
) -> None:
    pins = _pins(lock)
    for environment in _environments():
        installed = _installed(pins, environment)
        for requirement in _requirements(*extras):
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            name = canonicalize_name(requirement.name)
            where = f"{lock.name}, Python {environment['python_version']} on {environment['sys_platform']}"
            assert name in installed, f"{requirement} is not pinned in {where}: run scripts/lock"
            assert requirement.specifier.contains(installed[name], prereleases=True), (
                f"{where} pins {name}=={installed[name]}, outside {requirement}: run scripts/lock"
            )


def test_the_runtime_lock_holds_only_runtime_dependencies() -> None:
    runtime = {canonicalize_name(r.name) for r in _requirements()}
    tools = {canonicalize_name(r.name) for r in _requirements("test", "lint")} - runtime
    locked = {name for name, _, _ in _pins(LOCK)}
    assert runtime <= locked
    assert not tools & locked, f"test or lint tools in the runtime lock: {tools & locked}"


def test_the_dev_lock_pins_the_runtime_exactly_as_the_runtime_lock() -> None:
    dev = set(_pins(DEV_LOCK))
    different = [pin for pin in _pins(LOCK) if pin not in dev]
    assert not different, f"dev-lock.txt pins these differently from lock.txt: {different}"


def test_the_locks_are_written_by_scripts_lock() -> None:
    for lock in (LOCK, DEV_LOCK):
        assert "#    scripts/lock\n" in lock.read_text(), (
            f"{lock.name} was not written by scripts/lock"
        )


def test_the_readme_scripts_and_image_install_from_the_locks() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pip install -r requirements/lock.txt" in readme
    assert "pip install --no-deps -e ." in readme
    test_script = (ROOT / "scripts" / "test").read_text()
    assert "pip install --quiet -r requirements/dev-lock.txt" in test_script
    assert "pip install --quiet --no-deps -e ." in test_script
    assert not re.search(r"pip install[^\n]*-e '?\.\[", test_script), "unlocked install"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements/lock.txt" in dockerfile
    assert "pip install --no-deps /wheels/" in dockerfile
    tox = (ROOT / "tox.ini").read_text()
    assert "deps = -r requirements/dev-lock.txt" in tox
