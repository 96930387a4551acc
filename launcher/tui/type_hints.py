"""The New Task form's type hints: ``GET /types`` parsed, and each type described.

The read model lists every registered type with its payload schema and options
(:mod:`quart_app.read_model.types`); the form shows the typed type's entry as a hint
and can fill in an example payload built from the schema, as the web dashboard does
(``quart_app/web/task_types.js``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.text import Text

from launcher.tui.models import MalformedDocument, as_list, as_object

__all__ = ["JobTypeInfo", "example_payload", "schema_properties", "type_hint"]

_MODES = {
    "async": "on the event loop",
    "thread": "in a worker thread",
    "process": "in a worker process",
}


@dataclass(frozen=True, slots=True)
class JobTypeInfo:
    """One entry of ``GET /types``."""

    type: str
    description: str | None
    mode: str
    payload_schema: dict[str, object] | None
    timeout_s: float | None
    max_attempts: int | None
    concurrency: int | None
    rate_limit_per_s: float | None = None

    @classmethod
    def from_json(cls, value: object) -> JobTypeInfo:
        """Parse one entry (unknown fields are ignored; missing options are ``None``).

        Raises:
            MalformedDocument: it is not an object with a string ``type``.
        """
        doc = as_object(value, "types[]")
        schema = doc.get("payloadSchema")
        timeout, attempts, concurrency, rate = (
            doc.get(k) for k in ("timeoutS", "maxAttempts", "concurrency", "rateLimitPerS")
        )
        description, job_type = doc.get("description"), doc.get("type")
        if not isinstance(job_type, str):
            raise MalformedDocument(f"Expected types[].type to be a string, got {job_type!r}.")
        return cls(
            type=job_type,
            description=description if isinstance(description, str) else None,
            mode=str(doc.get("mode", "")),
            payload_schema=as_object(schema, "types[].payloadSchema") if schema else None,
            timeout_s=float(timeout) if isinstance(timeout, (int, float)) else None,
            max_attempts=attempts if isinstance(attempts, int) else None,
            concurrency=concurrency if isinstance(concurrency, int) else None,
            rate_limit_per_s=(
                float(rate)
                if isinstance(rate, (int, float)) and not isinstance(rate, bool)
                else None
            ),
        )

    @classmethod
    def list_from_json(cls, value: object) -> list[JobTypeInfo]:
        """Parse the whole answer of ``GET /types``."""
        return [cls.from_json(item) for item in as_list(value, "types")]


def _type_text(prop: dict[str, object]) -> str:
    enum = prop.get("enum")
    if isinstance(enum, list):
        return "one of " + ", ".join(json.dumps(v) for v in enum)
    kind = prop.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    return str(kind) if kind else "any"


def _constraints(prop: dict[str, object]) -> list[str]:
    words = {
        "minimum": "≥ {}",
        "exclusiveMinimum": "> {}",
        "maximum": "≤ {}",
        "minLength": "at least {} characters",
        "maxLength": "at most {} characters",
        "pattern": "matches {}",
        "format": "format {}",
    }
    found = [template.format(prop[key]) for key, template in words.items() if key in prop]
    if "default" in prop:
        found.append(f"default {json.dumps(prop['default'])}")
    return found


def schema_properties(schema: dict[str, object]) -> list[tuple[str, str, bool, str]]:
    """Each property of an object schema: ``(name, type and constraints, required,
    description)``, required ones first."""
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = schema.get("required")
    required_names = [str(n) for n in required] if isinstance(required, list) else []
    names = list(dict.fromkeys([*required_names, *map(str, props)]))
    found = []
    for name in names:
        prop = props.get(name)
        prop = prop if isinstance(prop, dict) else {}
        kind = ", ".join([_type_text(prop), *_constraints(prop)])
        description = prop.get("description")
        found.append(
            (
                name,
                kind,
                name in required_names,
                description if isinstance(description, str) else "",
            )
        )
    return found


def _example_value(prop: dict[str, object]) -> object:
    examples = prop.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    for key in ("default", "const"):
        if key in prop:
            return prop[key]
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = prop.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind in ("integer", "number"):
        low = prop.get("minimum")
        return low if isinstance(low, (int, float)) else 0
    simple: dict[object, object] = {"boolean": False, "array": [], "null": None}
    if kind == "object":
        return example_payload(prop)
    return simple.get(kind, "")


def example_payload(schema: dict[str, object]) -> dict[str, object]:
    """A payload to start from: the schema's first example, else its required properties
    with their example, default or a plain value of their type."""
    examples = schema.get("examples")
    if isinstance(examples, list) and examples and isinstance(examples[0], dict):
        return dict(examples[0])
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = schema.get("required")
    payload: dict[str, object] = {}
    for name in required if isinstance(required, list) else []:
        prop = props.get(name)
        payload[str(name)] = _example_value(prop if isinstance(prop, dict) else {})
    return payload


def type_hint(job_type: str, types: dict[str, JobTypeInfo]) -> Text:
    """What the form says about ``job_type``: where it runs, its options, its payload."""
    if not job_type:
        return Text("")
    info = types.get(job_type)
    if info is None:
        if not types:
            return Text("")
        return Text(
            f"'{job_type}' is not among the registered types: {', '.join(types)}.", style="yellow"
        )
    text = Text(info.type, style="bold")
    if info.description:
        text.append(f": {info.description}")
    options = [f"runs {_MODES[info.mode]}"] if info.mode in _MODES else []
    if info.timeout_s is not None:
        options.append(f"timeout {info.timeout_s:g} s")
    if info.max_attempts is not None:
        options.append(f"up to {info.max_attempts} attempts")
    if info.concurrency is not None:
        options.append(f"at most {info.concurrency} at once")
    if info.rate_limit_per_s is not None:
        options.append(f"at most {info.rate_limit_per_s:g} starts/s")
    if options:
        text.append("\n  " + " · ".join(options), style="dim")
    if info.payload_schema is None:
        text.append("\n  payload: any JSON object (no schema)", style="dim")
        return text
    text.append("\n  payload:")
    for name, kind, required, description in schema_properties(info.payload_schema):
        text.append(f"\n    {name}", style="bold")
        text.append(f" {kind}", style="dim")
        if required:
            text.append(" required", style="red")
        if description:
            text.append(f" — {description}")
    example = json.dumps(example_payload(info.payload_schema))
    text.append(f"\n  example (ctrl+t fills it in): {example}", style="dim")
    return text
