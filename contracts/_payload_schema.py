"""Payload schemas of job types: a user's JSON Schema, compiled once, checked fast.

A handler may declare the schema its payloads must match (``@handler(...,
payload_schema=...)``); the gateway refuses a payload that breaks it (400) and the
processor fails such a job without retrying it. Both locate every problem with a JSON
Pointer, as the contracts do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

import jsonschema_rs

from contracts._validation import collect_issues
from contracts.errors import ConfigError, ValidationIssue

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["PayloadSchema"]


class PayloadSchema:
    """One job type's payload schema, compiled (any draft jsonschema-rs knows).

    Args:
        schema: the JSON Schema, a JSON object.
        source: where it came from, for error messages (a file, or the job type).

    Raises:
        ConfigError: ``schema`` is not a usable JSON Schema.
    """

    __slots__ = ("_validator", "schema", "source")

    def __init__(self, schema: Mapping[str, object], *, source: str) -> None:
        self.schema: dict[str, object] = dict(schema)
        """The schema as given (served to clients as a hint)."""
        self.source = source
        try:
            # Offline: a schema never makes the observatory fetch anything.
            self._validator = jsonschema_rs.validator_for(
                self.schema, validate_formats=True, offline=True
            )
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            raise ConfigError(
                f"The payload schema {source} is not a usable JSON Schema: {exc}"
            ) from exc

    @classmethod
    def from_file(cls, path: Path) -> PayloadSchema:
        """The schema in the JSON file at ``path``.

        Raises:
            ConfigError: the file is missing, is not JSON, or is not a usable JSON Schema.
        """
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot load the payload schema {path}: {exc}") from exc
        if not isinstance(document, dict):
            raise ConfigError(f"The payload schema {path} is not a JSON object.")
        return cls(cast("dict[str, object]", document), source=str(path))

    def issues(self, payload: object, *, prefix: str = "/payload") -> list[ValidationIssue]:
        """Every way ``payload`` breaks the schema, each at ``prefix`` + its JSON Pointer.

        An empty list when it matches. A document too deep to check is one issue at
        ``prefix``.
        """
        try:
            if self._validator.is_valid(payload):
                return []
            found = collect_issues(self._validator, payload)
        except ValueError as exc:
            return [ValidationIssue(prefix, f"The payload cannot be checked ({exc}).")]
        return [ValidationIssue(prefix + issue.path, issue.message) for issue in found]

    def __repr__(self) -> str:
        return f"<PayloadSchema {self.source}>"
