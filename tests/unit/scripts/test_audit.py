"""scripts/audit: pip-audit over every pin of the lock, and loud when it cannot run.

A fake pip-audit (``$PIP_AUDIT``) plays each answer the real one gives; one test runs
the real pip-audit through a proxy that refuses on the loopback, as when offline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    Audit = Callable[[str], tuple[subprocess.CompletedProcess[str], list[list[str]]]]

ROOT = Path(__file__).resolve().parents[3]
AUDIT = ROOT / "scripts" / "audit"
DEV_LOCK = ROOT / "requirements" / "dev-lock.txt"

# A pip-audit stand-in: logs the requirement file it is given, then answers as told by
# $FAKE_ANSWER: "clean", "vulnerable" (anyio), "skipped" or "offline".
_FAKE = """\
import json, os, sys
from pathlib import Path
requirements = Path(sys.argv[sys.argv.index("--requirement") + 1]).read_text().split()
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(requirements) + "\\n")
answer = os.environ["FAKE_ANSWER"]
if answer == "offline":
    print("Traceback (most recent call last):", file=sys.stderr)
    print("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='db.invalid', "
          "port=443): Max retries exceeded (Caused by NameResolutionError)", file=sys.stderr)
    sys.exit(1)
dependencies = []
for line in requirements:
    name, version = line.split("==")
    if answer == "skipped":
        dependencies.append({"name": name, "skip_reason": f"Dependency not found: {name}"})
        continue
    vulns = []
    if answer == "vulnerable" and name == "anyio":
        vulns = [{"id": "PYSEC-2026-1", "fix_versions": ["99.0"], "aliases": [], "description": ""}]
    dependencies.append({"name": name, "version": version, "vulns": vulns})
print(json.dumps({"dependencies": dependencies, "fixes": []}))
sys.exit(1 if answer == "vulnerable" else 0)
"""


@pytest.fixture
def audit(tmp_path: Path) -> Audit:
    fake = tmp_path / "pip-audit"
    fake.write_text(f"#!{sys.executable}\n{_FAKE}")
    fake.chmod(0o755)
    log = tmp_path / "requirements.log"

    def run(answer: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
        env = {**os.environ, "PIP_AUDIT": str(fake), "FAKE_ANSWER": answer, "FAKE_LOG": str(log)}
        result = subprocess.run(
            [sys.executable, str(AUDIT)], capture_output=True, text=True, env=env, timeout=50
        )
        rounds = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return result, rounds

    return run


def _locked_pins() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*==[^\s;\\]+)", DEV_LOCK.read_text(), re.M))


def test_every_pin_is_audited_whatever_its_marker(audit: Audit) -> None:
    result, rounds = audit("clean")
    assert result.returncode == 0, result.stdout + result.stderr
    audited = [pin for requirements in rounds for pin in requirements]
    assert sorted(audited) == sorted(_locked_pins())
    # quart is pinned per Python version: both pins are audited, in separate runs.
    quart = [pin for requirements in rounds for pin in requirements if pin.startswith("quart==")]
    assert len(quart) == 2
    assert all(len({p.split("==")[0] for p in r}) == len(r) for r in rounds)
    assert f"no known vulnerabilities in the {len(audited)} audited pins" in result.stdout


def test_a_vulnerability_fails_the_audit_and_is_named(audit: Audit) -> None:
    result, _ = audit("vulnerable")
    assert result.returncode == 1
    assert re.search(r"anyio \S+: PYSEC-2026-1 \(fixed in: 99\.0\)", result.stdout), result.stdout


def test_an_unreachable_database_skips_the_audit_loudly(audit: Audit) -> None:
    result, _ = audit("offline")
    assert result.returncode == 0
    assert (
        "SKIPPED: the vulnerability audit did not run: pip-audit could not reach" in result.stdout
    )
    assert "Max retries exceeded" in result.stdout
    assert "nothing was checked" in result.stdout


def test_a_database_that_answers_for_no_package_skips_the_audit_loudly(audit: Audit) -> None:
    result, _ = audit("skipped")
    assert result.returncode == 0
    assert re.search(r"SKIPPED: .* answered for none of the \d+ locked packages", result.stdout)


def test_the_real_pip_audit_behind_a_refusing_proxy_says_skipped() -> None:
    pip_audit = Path(sys.executable).parent / "pip-audit"
    if not pip_audit.exists():
        pytest.skip("pip-audit is not installed (requirements/dev-lock.txt installs it)")
    # Port 9 (discard) on the loopback refuses: every request fails like an offline one.
    env = {
        **{k: v for k, v in os.environ.items() if k.lower() != "no_proxy"},
        "PIP_AUDIT": str(pip_audit),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, str(AUDIT)], capture_output=True, text=True, env=env, timeout=50
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "SKIPPED: the vulnerability audit did not run: pip-audit could not reach" in result.stdout
    )
