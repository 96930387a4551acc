"""``observatory check schemas``: contract changes against a git base follow SemVer.

Compatible: adding an optional property, widening an enum or a type. Breaking: removing a
property or definition, adding a required property, changing a type, narrowing an enum;
a breaking change needs a major ``$version`` bump. Any change needs a valid SemVer
``$version`` no lower than before, and every schema needs a unique ``$id``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from launcher.cluster._errors import LauncherError

if TYPE_CHECKING:
    from pathlib import Path

    from launcher.cluster._run import Runner

__all__ = [
    "SCHEMA_DIR",
    "Finding",
    "SchemaReport",
    "check_schemas",
    "compare_schemas",
    "parse_semver",
]

SCHEMA_DIR = "contracts/schemas"

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

Level = Literal["info", "error"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation: ``error`` findings refuse the change, ``info`` ones explain it."""

    path: str
    rule: str
    message: str
    level: Level = "error"
    schema: str = ""

    def line(self) -> str:
        where = f"{self.schema}: " if self.schema else ""
        word = "FAIL" if self.level == "error" else "note"
        return f"{word}: {where}{self.path}: {self.rule}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Change:
    path: str
    rule: str
    message: str
    breaking: bool


def parse_semver(text: object) -> tuple[int, int, int, tuple[tuple[int, int | str], ...]] | None:
    """A sortable key of a SemVer string (pre-releases sort before the release), or ``None``."""
    if not isinstance(text, str):
        return None
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre = match.group(1, 2, 3, 4)
    # A release sorts after any of its pre-releases: (1,) > (0, ...).
    pre_key: tuple[tuple[int, int | str], ...] = (
        ((1, 0),)
        if pre is None
        else tuple((0, int(part)) if part.isdigit() else (0, part) for part in pre.split("."))
    )
    return int(major), int(minor), int(patch), pre_key


def _types(node: dict[str, Any]) -> set[str] | None:
    value = node.get("type")
    if value is None:
        return None
    return {value} if isinstance(value, str) else {str(item) for item in value}


def _compare_node(old: dict[str, Any], new: dict[str, Any], path: str) -> list[_Change]:
    changes: list[_Change] = []
    old_types, new_types = _types(old), _types(new)
    if old_types != new_types:
        if new_types is None or (old_types is not None and old_types <= new_types):
            changes.append(
                _Change(path + ".type", "widened-type", f"{old_types} -> {new_types}", False)
            )
        else:
            changes.append(
                _Change(
                    path + ".type",
                    "changed-type",
                    f"type {sorted(old_types or ['any'])} -> {sorted(new_types)}",
                    True,
                )
            )

    if "enum" in old or "enum" in new:
        old_enum, new_enum = old.get("enum"), new.get("enum")
        if new_enum is None:
            changes.append(_Change(path + ".enum", "widened-enum", "enum removed", False))
        elif old_enum is None:
            changes.append(_Change(path + ".enum", "narrowed-enum", f"enum {new_enum} added", True))
        else:
            removed = [value for value in old_enum if value not in new_enum]
            added = [value for value in new_enum if value not in old_enum]
            if removed:
                changes.append(
                    _Change(path + ".enum", "narrowed-enum", f"values {removed} removed", True)
                )
            if added:
                changes.append(
                    _Change(path + ".enum", "widened-enum", f"values {added} added", False)
                )

    old_props = old.get("properties") or {}
    new_props = new.get("properties") or {}
    old_required = set(old.get("required") or [])
    new_required = set(new.get("required") or [])
    changes.extend(
        _Change(f"{path}.properties.{name}", "removed-property", "property removed", True)
        for name in old_props
        if name not in new_props
    )
    for name in new_props:
        if name not in old_props:
            if name in new_required:
                changes.append(
                    _Change(
                        f"{path}.properties.{name}",
                        "added-required-property",
                        "new property is required",
                        True,
                    )
                )
            else:
                changes.append(
                    _Change(
                        f"{path}.properties.{name}",
                        "added-optional-property",
                        "new optional property",
                        False,
                    )
                )
    changes.extend(
        _Change(f"{path}.required", "added-required-property", f"{name!r} became required", True)
        for name in sorted(new_required - old_required)
        if name in old_props or name not in new_props
    )
    for name, old_child in old_props.items():
        new_child = new_props.get(name)
        if isinstance(old_child, dict) and isinstance(new_child, dict):
            changes += _compare_node(old_child, new_child, f"{path}.properties.{name}")

    for key in ("definitions", "$defs"):
        old_defs = old.get(key) or {}
        new_defs = new.get(key) or {}
        for name, old_child in old_defs.items():
            new_child = new_defs.get(name)
            if new_child is None:
                changes.append(
                    _Change(
                        f"{path}.{key}.{name}", "removed-definition", "definition removed", True
                    )
                )
            elif isinstance(old_child, dict) and isinstance(new_child, dict):
                changes += _compare_node(old_child, new_child, f"{path}.{key}.{name}")

    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        changes += _compare_node(old_items, new_items, f"{path}.items")
    return changes


def compare_schemas(old: dict[str, Any], new: dict[str, Any]) -> list[Finding]:
    """What changed from ``old`` to ``new`` and which SemVer rules the change breaks.

    Findings with level ``error`` refuse the change; ``info`` ones list compatible changes
    (and breaking changes covered by a major bump).
    """
    findings: list[Finding] = []
    old_version, new_version = old.get("$version"), new.get("$version")
    new_key = parse_semver(new_version)
    old_key = parse_semver(old_version)
    if new_key is None:
        findings.append(
            Finding("$.$version", "semver", f"{new_version!r} is not a valid SemVer version")
        )
    if old == new:
        return findings
    changes = _compare_node(old, new, "$")
    if new_key is not None and old_key is not None and new_key < old_key:
        findings.append(
            Finding(
                "$.$version",
                "version-lowered",
                f"{old_version} -> {new_version}: a changed schema's $version may not go down",
            )
        )
    major_bumped = new_key is not None and old_key is not None and new_key[0] > old_key[0]
    for change in changes:
        if not change.breaking:
            findings.append(Finding(change.path, change.rule, change.message, "info"))
        elif major_bumped:
            findings.append(
                Finding(
                    change.path,
                    change.rule,
                    f"{change.message} (breaking, allowed by the major bump "
                    f"{old_version} -> {new_version})",
                    "info",
                )
            )
        else:
            findings.append(
                Finding(
                    change.path,
                    change.rule,
                    f"{change.message}: BREAKING, needs a major $version bump "
                    f"({old_version} -> {new_version} is not one)",
                )
            )
    return findings


@dataclass
class SchemaReport:
    """Findings across the schemas and counts for the summary."""

    base: str
    findings: list[Finding]
    schemas: int = 0
    changed: int = 0
    new: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.level == "error"]

    def summary(self) -> str:
        return (
            f"OK: {self.schemas} schemas in {SCHEMA_DIR} checked against {self.base}: "
            f"{self.changed} changed compatibly or with a major bump, {self.new} new"
        )


def _load(text: str, schema: str, findings: list[Finding]) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        findings.append(Finding("$", "json", f"not valid JSON: {error}", schema=schema))
        return None
    if not isinstance(value, dict):
        findings.append(Finding("$", "json", "not a JSON object", schema=schema))
        return None
    return value


async def check_schemas(root: Path, base: str, runner: Runner) -> SchemaReport:
    """Compare ``root/contracts/schemas/*.json`` with their versions at git ``base``.

    Raises :class:`LauncherError` when ``base`` is not a commit of the repository at ``root``.
    """
    git = ["git", "-C", str(root)]
    verify = await runner.run(
        [*git, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],
        timeout_s=30.0,
        check=False,
    )
    if verify.exit_code != 0:
        raise LauncherError(
            verify.argv,
            exit_code=verify.exit_code,
            stderr=verify.stderr,
            reason=f"found no commit {base!r}",
            hint="pass an existing commit, branch or tag with --base (and run inside the "
            "repository or pass --root)",
        )
    report = SchemaReport(base=base, findings=[])
    ids: dict[str, str] = {}
    for path in sorted((root / SCHEMA_DIR).glob("*.json")):
        name = path.name
        report.schemas += 1
        found: list[Finding] = []
        new = _load(path.read_text(), name, found)
        if new is not None:
            schema_id = new.get("$id")
            if not isinstance(schema_id, str) or not schema_id:
                found.append(Finding("$.$id", "id", "missing $id"))
            elif schema_id in ids:
                found.append(
                    Finding(
                        "$.$id", "id-unique", f"{schema_id!r} is also the $id of {ids[schema_id]}"
                    )
                )
            else:
                ids[schema_id] = name
            shown = await runner.run(
                [*git, "show", f"{base}:{SCHEMA_DIR}/{name}"], timeout_s=30.0, check=False
            )
            old = _load(shown.stdout, name, found) if shown.exit_code == 0 else None
            if shown.exit_code != 0:
                report.new += 1
                if parse_semver(new.get("$version")) is None:
                    found.append(
                        Finding(
                            "$.$version",
                            "semver",
                            f"{new.get('$version')!r} is not a valid SemVer version",
                        )
                    )
            elif old is not None:
                if old != new:
                    report.changed += 1
                found += compare_schemas(old, new)
        report.findings += [
            Finding(f.path, f.rule, f.message, f.level, schema=f.schema or name) for f in found
        ]
    listed = await runner.run(
        [*git, "ls-tree", "--name-only", f"{base}:{SCHEMA_DIR}"], timeout_s=30.0, check=False
    )
    if listed.exit_code == 0:
        for name in sorted(listed.stdout.split()):
            if name.endswith(".json") and not (root / SCHEMA_DIR / name).exists():
                report.findings.append(
                    Finding(
                        "$",
                        "removed",
                        f"the schema existed at {base} and is gone: every consumer of it "
                        "breaks (BREAKING; keep it, or retire it in a major release)",
                        schema=name,
                    )
                )
    return report
