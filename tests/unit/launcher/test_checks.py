"""``observatory check versions|schemas``: the real repository, broken copies, git bases."""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from actors._version import VERSION
from launcher.checks import compare_schemas
from launcher.checks.command import check_main
from launcher.checks.schemas import parse_semver
from launcher.checks.versions import split_image
from launcher.cli import build_parser
from launcher.cluster._errors import LauncherError

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "contracts" / "fixtures" / "schema-compat"


def load(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return value


def run_check(*argv: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = check_main(build_parser().parse_args(["check", *argv]), out=out)
    return code, out.getvalue().splitlines()


# --- compare_schemas ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "rule", "path"),
    [
        ("add-optional-field", "added-optional-property", "$.properties.description"),
        ("widen-enum", "widened-enum", "$.properties.status.enum"),
    ],
)
def test_compatible_fixture_pairs_pass(pair: str, rule: str, path: str) -> None:
    findings = compare_schemas(load(f"{pair}-old.json"), load(f"{pair}-new.json"))
    assert [(f.level, f.rule, f.path) for f in findings] == [("info", rule, path)]


@pytest.mark.parametrize(
    ("pair", "rule", "path"),
    [
        ("remove-required-field", "removed-property", "$.properties.status"),
        ("narrow-enum", "narrowed-enum", "$.properties.status.enum"),
    ],
)
def test_breaking_fixture_pairs_with_a_minor_bump_are_refused(
    pair: str, rule: str, path: str
) -> None:
    findings = compare_schemas(load(f"{pair}-old.json"), load(f"{pair}-new.json"))
    assert [(f.level, f.rule, f.path) for f in findings] == [("error", rule, path)]
    assert "BREAKING, needs a major $version bump (1.0.0 -> 1.1.0 is not one)" in (
        findings[0].message
    )


@pytest.mark.parametrize("pair", ["remove-required-field", "narrow-enum"])
def test_breaking_fixture_pairs_with_a_major_bump_pass(pair: str) -> None:
    new = load(f"{pair}-new.json") | {"$version": "2.0.0"}
    findings = compare_schemas(load(f"{pair}-old.json"), new)
    assert findings
    assert all(f.level == "info" for f in findings)
    assert "allowed by the major bump 1.0.0 -> 2.0.0" in findings[0].message


def nested() -> dict[str, Any]:
    return {
        "$version": "1.2.0",
        "type": "object",
        "required": ["job"],
        "properties": {
            "job": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "tries": {"type": "integer"}},
            }
        },
        "definitions": {"status": {"type": "string", "enum": ["a", "b"]}},
    }


def rules(findings: list[Any]) -> list[tuple[str, str, str]]:
    return [(f.level, f.rule, f.path) for f in findings]


def test_nested_properties_and_definitions_are_compared() -> None:
    new = copy.deepcopy(nested()) | {"$version": "1.3.0"}
    new["properties"]["job"]["properties"]["tries"] = {"type": "string"}
    new["properties"]["job"]["required"] = ["id"]
    new["definitions"]["status"]["enum"] = ["a"]
    assert rules(compare_schemas(nested(), new)) == [
        ("error", "added-required-property", "$.properties.job.required"),
        ("error", "changed-type", "$.properties.job.properties.tries.type"),
        ("error", "narrowed-enum", "$.definitions.status.enum"),
    ]


def test_new_required_property_and_removed_definition_are_breaking() -> None:
    new = copy.deepcopy(nested()) | {"$version": "1.3.0", "definitions": {}}
    new["properties"]["owner"] = {"type": "string"}
    new["required"] = ["job", "owner"]
    assert rules(compare_schemas(nested(), new)) == [
        ("error", "added-required-property", "$.properties.owner"),
        ("error", "removed-definition", "$.definitions.status"),
    ]


def test_widened_type_is_compatible() -> None:
    new = copy.deepcopy(nested())
    new["properties"]["job"]["properties"]["id"]["type"] = ["string", "null"]
    assert rules(compare_schemas(nested(), new)) == [
        ("info", "widened-type", "$.properties.job.properties.id.type")
    ]


def test_version_may_not_go_down_or_be_invalid() -> None:
    new = copy.deepcopy(nested()) | {"$version": "1.1.9"}
    new["properties"]["extra"] = {"type": "string"}
    assert ("error", "version-lowered", "$.$version") in rules(compare_schemas(nested(), new))
    bad = nested() | {"$version": "v1.2"}
    assert rules(compare_schemas(nested(), bad)) == [("error", "semver", "$.$version")]


def test_unchanged_schema_has_no_findings() -> None:
    assert compare_schemas(nested(), nested()) == []


def test_semver_ordering() -> None:
    assert parse_semver("1.0.0-rc.1") is not None
    assert parse_semver("1.0.0-rc.1") < parse_semver("1.0.0")  # type: ignore[operator]
    assert parse_semver("1.10.0") > parse_semver("1.9.3")  # type: ignore[operator]
    assert parse_semver("01.0.0") is None
    assert parse_semver(1) is None


# --- check versions ----------------------------------------------------------------------


def test_split_image() -> None:
    assert split_image("task-observatory:0.1.0") == ("task-observatory", "0.1.0", None)
    assert split_image("localhost:5000/redis") == ("localhost:5000/redis", None, None)
    assert split_image("redis@sha256:abc") == ("redis", None, "sha256:abc")


def test_versions_pass_on_the_real_repository() -> None:
    code, lines = run_check("versions", "--root", str(ROOT))
    assert code == 0, lines
    assert len(lines) == 1
    assert lines[0].startswith("OK: ")
    assert f"images of ours at {VERSION}" in lines[0]


@pytest.fixture
def broken_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    gateway = tmp_path / "manifests/base/gateway.yaml"
    gateway.write_text(
        gateway.read_text().replace(f"task-observatory:{VERSION}", "task-observatory:9.9.9")
    )
    redis = tmp_path / "manifests/base/redis.yaml"
    redis.write_text(redis.read_text().replace("image: redis:7", "image: redis"))
    mongo = tmp_path / "manifests/base/mongo.yaml"
    mongo.write_text(mongo.read_text().replace("image: mongo:7", "image: mongo:latest"))
    kustomization = tmp_path / "manifests/base/kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace(
            f'app.kubernetes.io/version: "{VERSION}"', 'app.kubernetes.io/version: "0.0.9"'
        )
    )
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            "FROM python:3.11-slim AS builder", "FROM python:latest AS builder"
        )
    )
    return tmp_path


def test_versions_fail_on_a_broken_copy(broken_copy: Path) -> None:
    code, lines = run_check("versions", "--root", str(broken_copy))
    assert code == 1
    dockerfile_line = next(
        n
        for n, line in enumerate((broken_copy / "Dockerfile").read_text().splitlines(), start=1)
        if "python:latest" in line
    )
    assert sorted(lines[:-1]) == sorted(
        [
            "FAIL: manifests/base/gateway.yaml: Deployment/gateway: image "
            f"'task-observatory:9.9.9' has tag '9.9.9', expected '{VERSION}' (the package VERSION)",
            "FAIL: manifests/base/redis.yaml: StatefulSet/redis: image 'redis' has no tag; "
            "pin a version",
            "FAIL: manifests/base/mongo.yaml: StatefulSet/mongo: image 'mongo:latest' uses "
            ":latest; pin a version",
            "FAIL: manifests/base/kustomization.yaml: Kustomization/(unnamed): label "
            f"app.kubernetes.io/version='0.0.9', expected '{VERSION}' (the package VERSION)",
            f"FAIL: Dockerfile:{dockerfile_line}: uses :latest ('FROM python:latest AS builder'); "
            "pin a version",
        ]
    )
    assert lines[-1] == f"check versions: 5 problems (VERSION is {VERSION})"


def test_kustomize_image_new_tag_must_match(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests/kustomization.yaml").write_text(
        "kind: Kustomization\nimages:\n  - name: task-observatory\n    newTag: '0.0.1'\n"
        "commonLabels:\n  app.kubernetes.io/version: 0.0.1\n"
    )
    code, lines = run_check("versions", "--root", str(tmp_path))
    assert code == 1
    assert lines[:-1] == [
        "FAIL: manifests/kustomization.yaml: Kustomization/(unnamed): label "
        f"app.kubernetes.io/version='0.0.1', expected '{VERSION}' (the package VERSION)",
        "FAIL: manifests/kustomization.yaml: Kustomization/(unnamed): "
        f"images[task-observatory].newTag='0.0.1', expected '{VERSION}' (the package VERSION)",
    ]


# --- check schemas against git -----------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://example.test/schemas/thing.json",
    "$version": "1.0.0",
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string"}, "note": {"type": "string"}},
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=30,
    )


def write_schema(repo: Path, schema: dict[str, Any], name: str = "thing.json") -> None:
    path = repo / "contracts/schemas" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=2) + "\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    write_schema(tmp_path, SCHEMA)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "schema")
    return tmp_path


def breaking(version: str) -> dict[str, Any]:
    changed = copy.deepcopy(SCHEMA) | {"$version": version}
    del changed["properties"]["note"]
    return changed


def test_breaking_change_without_major_bump_is_refused_by_the_cli(repo: Path) -> None:
    write_schema(repo, breaking("1.1.0"))
    observatory = Path(sys.executable).parent / "observatory"
    result = subprocess.run(
        [str(observatory), "check", "schemas", "--base", "HEAD"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "FAIL: thing.json: $.properties.note: removed-property: property removed: BREAKING, "
        "needs a major $version bump (1.0.0 -> 1.1.0 is not one)",
        "check schemas: 1 problem against HEAD",
    ]


def test_breaking_change_with_major_bump_passes(repo: Path) -> None:
    write_schema(repo, breaking("2.0.0"))
    code, lines = run_check("schemas", "--root", str(repo))
    assert code == 0, lines
    assert lines == [
        "OK: 1 schemas in contracts/schemas checked against HEAD: "
        "1 changed compatibly or with a major bump, 0 new"
    ]


def test_new_schema_is_fine_but_ids_must_be_unique_and_versions_semver(repo: Path) -> None:
    write_schema(repo, SCHEMA | {"$version": "1.0"}, name="twin.json")
    code, lines = run_check("schemas", "--root", str(repo))
    assert code == 1
    assert lines == [
        "FAIL: twin.json: $.$id: id-unique: 'https://example.test/schemas/thing.json' is also "
        "the $id of thing.json",
        "FAIL: twin.json: $.$version: semver: '1.0' is not a valid SemVer version",
        "check schemas: 2 problems against HEAD",
    ]
    write_schema(repo, SCHEMA | {"$id": "https://example.test/schemas/twin.json"}, "twin.json")
    assert run_check("schemas", "--root", str(repo))[0] == 0


def test_a_removed_schema_is_breaking(repo: Path) -> None:
    (repo / "contracts/schemas/thing.json").unlink()
    code, lines = run_check("schemas", "--root", str(repo))
    assert code == 1
    assert lines == [
        "FAIL: thing.json: $: removed: the schema existed at HEAD and is gone: every consumer "
        "of it breaks (BREAKING; keep it, or retire it in a major release)",
        "check schemas: 1 problem against HEAD",
    ]


def test_unknown_base_is_an_error(repo: Path) -> None:
    with pytest.raises(LauncherError, match="found no commit 'no-such-ref'"):
        run_check("schemas", "--root", str(repo), "--base", "no-such-ref")


def test_schemas_pass_on_the_real_repository() -> None:
    code, lines = run_check("schemas", "--root", str(ROOT))
    assert code == 0, lines
