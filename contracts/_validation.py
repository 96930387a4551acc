"""Loading the JSON Schemas once, validating documents against them, parsing JSON bodies."""

from __future__ import annotations

import copy
import enum
import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import jsonschema_rs
import orjson

from contracts.errors import ConfigError, InvalidMessage, ValidationIssue

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MAX_JSON_DEPTH",
    "Contracts",
    "SchemaName",
    "dump_json",
    "fixtures_dir",
    "get_contracts",
    "parse_json",
    "schemas_dir",
]

_PACKAGE_DIR = Path(__file__).resolve().parent

# Draft-07 has no ``uuid`` format, so jsonschema-rs ignores it unless we register a check.
# Only the canonical hyphenated form counts: ``uuid.UUID`` would also take braces, a
# ``urn:uuid:`` prefix and the bare 32-digit form, which no producer of ours emits.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class SchemaName(enum.StrEnum):
    """The contracts, each named by its schema file's stem in ``contracts/schemas/``."""

    JOB = "job"
    """A job, the domain object every service passes around."""
    EVENT_ENVELOPE = "event-envelope"
    """The envelope of every message on the broker."""
    JOB_ACCEPTED = "job-accepted"
    """The gateway's answer to an accepted submission."""
    JOB_SUBMISSION = "job-submission"
    """What ``POST /jobs`` accepts: a full job or the short form."""
    DEAD_LETTER = "dead-letter"
    """The record kept for a message no consumer may process."""
    STATS = "stats"
    """The read model's ``GET /stats`` answer."""
    ERROR = "error"
    """The body of every HTTP API error answer."""
    ALERTMANAGER_WEBHOOK = "alertmanager-webhook"
    """What Alertmanager's webhook receiver posts to the read model."""
    ALERTS = "alerts"
    """The read model's ``GET /alerts`` answer."""
    BULK_ACTION = "bulk-action"
    """The payload of a ``jobs.bulk-action`` event: a bulk action taken on the gateway."""


def schemas_dir() -> Path:
    """Return the directory holding the shipped JSON Schemas (``<name>.json``)."""
    return _PACKAGE_DIR / "schemas"


def fixtures_dir() -> Path:
    """Return the directory holding the shipped fixtures (``golden/``, ``negative/``, ...)."""
    return _PACKAGE_DIR / "fixtures"


def _is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def _pointer(parts: Iterable[str | int]) -> str:
    """Build a JSON Pointer (RFC 6901) from the parts of a path."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


class Contracts:
    """Every contract, loaded and compiled once; validation is then cheap and thread-safe.

    Each schema is read from ``<directory>/<name>.json`` for every `SchemaName`. They
    share one registry keyed by ``$id``, so a ``$ref`` to another contract's ``$id`` is
    resolved locally; retrieval over the network is switched off.

    Most callers want the process-wide instance from `get_contracts`.

    Args:
        directory: where the schema files are; the package's ``schemas/`` by default.

    Raises:
        ConfigError: a schema file is missing, is not JSON, lacks a string ``$id`` or
            ``$version``, or is not a valid JSON Schema.
    """

    __slots__ = ("_schemas", "_validators")

    def __init__(self, directory: Path | None = None) -> None:
        directory = schemas_dir() if directory is None else directory
        self._schemas: dict[SchemaName, dict[str, object]] = {
            name: _load_schema(directory / f"{name}.json", name) for name in SchemaName
        }
        try:
            # The registry resolves every $ref up front and never fetches anything.
            registry = jsonschema_rs.Registry(
                [(cast("str", schema["$id"]), schema) for schema in self._schemas.values()]
            )
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            raise ConfigError(
                f"The contracts in {directory} refer to a schema that is not among them: {exc}"
            ) from exc
        self._validators: dict[SchemaName, jsonschema_rs.Validator] = {}
        for name, schema in self._schemas.items():
            try:
                self._validators[name] = jsonschema_rs.validator_for(
                    schema,
                    registry=registry,
                    validate_formats=True,
                    formats={"uuid": _is_uuid},
                    offline=True,
                )
            except (ValueError, jsonschema_rs.ReferencingError) as exc:
                # jsonschema_rs.ValidationError, raised for a malformed schema, is a ValueError.
                raise ConfigError(
                    f"The {name} contract in {directory} is not a usable JSON Schema: {exc}"
                ) from exc

    def names(self) -> tuple[SchemaName, ...]:
        """Return the names of every contract, in `SchemaName` order."""
        return tuple(self._schemas)

    def schema(self, name: SchemaName) -> dict[str, object]:
        """Return a copy of the contract's JSON Schema (for OpenAPI documents and the like)."""
        return copy.deepcopy(self._schemas[name])

    def version(self, name: SchemaName) -> str:
        """Return the contract's ``$version`` (SemVer), e.g. ``"1.0.0"``."""
        return cast("str", self._schemas[name]["$version"])

    def issues(self, name: SchemaName, document: object) -> list[ValidationIssue]:
        """Return every way ``document`` breaks the contract; an empty list if it matches.

        Each issue's path is a JSON Pointer into ``document``. A missing required property
        is reported at the path it should have had (``/id``), and a property the contract
        does not allow at its own path (``/priority``), not at their parent. Issues
        come sorted by path, then message, without duplicates.

        Args:
            name: the contract to check against.
            document: a decoded JSON value (dicts, lists, str, int, float, bool, None).
        """
        return _check(self._validators[name], name, document)

    def validate(self, name: SchemaName, document: object) -> None:
        """Check that ``document`` matches the contract.

        Args:
            name: the contract to check against.
            document: a decoded JSON value.

        Raises:
            InvalidMessage: it does not match; ``issues`` holds every problem (see `issues`).
        """
        issues = _check(self._validators[name], name, document)
        if not issues:
            return
        count = f"{len(issues)} problem{'' if len(issues) == 1 else 's'}"
        raise InvalidMessage(f"The document does not match the {name} contract: {count}.", issues)

    def __repr__(self) -> str:
        return f"<Contracts {', '.join(f'{n}@{self.version(n)}' for n in self._schemas)}>"


def _check(
    validator: jsonschema_rs.Validator, name: SchemaName, document: object
) -> list[ValidationIssue]:
    try:
        if validator.is_valid(document):
            return []
        return collect_issues(validator, document)
    except ValueError as exc:
        # jsonschema-rs cannot take a document nested 255 levels or more ("Recursion limit
        # reached"), which Python's json module still decodes: a refusal, not a crash of
        # whoever validates (a consumer would be restarted on it again and again).
        return [
            ValidationIssue(
                "",
                f"The document cannot be checked against the {name} contract ({exc}); "
                "it is probably nested too deeply.",
            )
        ]


def collect_issues(validator: jsonschema_rs.Validator, document: object) -> list[ValidationIssue]:
    """Every issue ``validator`` finds in ``document``, located and sorted (see `Contracts.issues`)."""
    found: set[tuple[str, str]] = set()
    for error in validator.iter_errors(document):
        path = _pointer(error.instance_path)
        kind = error.kind
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
            path += _pointer((kind.property,))
        elif isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
            # One issue per unexpected property, located where it is, so a client sees
            # exactly which field to remove.
            for prop in kind.unexpected:
                found.add((path + _pointer((prop,)), f"Property {prop!r} is not allowed here."))
            continue
        found.add((path, error.message))
    return [ValidationIssue(path, message) for path, message in sorted(found)]


def _load_schema(path: Path, name: SchemaName) -> dict[str, object]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot load the {name} contract from {path}: {exc}") from exc
    if not isinstance(schema, dict):
        raise ConfigError(f"The {name} contract in {path} is not a JSON object.")
    for key in ("$id", "$version"):
        if not isinstance(schema.get(key), str):
            raise ConfigError(f"The {name} contract in {path} has no string {key!r}.")
    return cast("dict[str, object]", schema)


@functools.cache
def get_contracts() -> Contracts:
    """Return the process-wide `Contracts`, built from the shipped schemas on first use."""
    return Contracts()


class _NonJsonConstant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's json accepts them, JSON does not."""


def _reject_constant(constant: str) -> object:
    raise _NonJsonConstant(constant)


def parse_json(body: bytes | str, *, max_depth: int | None = None) -> object:
    """Decode a UTF-8 JSON body strictly.

    ``NaN``, ``Infinity`` and ``-Infinity`` are refused: they are not JSON, even though
    Python's ``json`` module writes and reads them. A byte order mark is refused too.

    Args:
        body: the raw bytes (must be UTF-8) or the already-decoded text.
        max_depth: the deepest nesting of arrays and objects allowed; ``MAX_JSON_DEPTH``
            when not given. Broker messages wrap what a client sent in envelopes, so
            their consumers allow a few levels more.

    Returns:
        The decoded value: dicts, lists, str, int, float, bool or None.

    Raises:
        InvalidMessage: the body is not UTF-8 or not JSON; it has one issue at path ``""``
            whose message says what is wrong and where (a string holding NUL: at its path).
    """
    document = _fast_loads(body)
    if document is _SLOW_PATH:
        document = _slow_loads(body)
    _check_decoded(body, document, MAX_JSON_DEPTH if max_depth is None else max_depth)
    return document


_SLOW_PATH = object()
"""What :func:`_fast_loads` answers when only the standard library can decide."""
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19
"""19 digits in a row (once every digit reads ``0``): perhaps an integer outside 64 bits,
which orjson would take (up to 2**64 - 1) and the contract refuses. Two C-speed passes,
several times faster than a regular expression over the digits of ids and timestamps."""


def _fast_loads(body: bytes | str) -> object:
    """Decode ``body`` with orjson, or return ``_SLOW_PATH`` when it is not plainly valid.

    Whatever orjson refuses (bad UTF-8, a BOM, ``NaN``, a lone surrogate, an infinite
    number, deep nesting, any syntax error) goes to the standard library, which decides
    and words the error exactly as before; so do long runs of digits.
    """
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    if _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO):
        return _SLOW_PATH
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _SLOW_PATH


def _slow_loads(body: bytes | str) -> object:
    """Decode ``body`` with the standard library, with the contract's error messages."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"Body is not valid UTF-8: {exc.reason} at byte {exc.start}."
            raise _unparsable(message) from exc
    else:
        text = body
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_int=_bounded_int)
    except _OutOfRange as exc:
        raise _unparsable(str(exc)) from None
    except json.JSONDecodeError as exc:
        message = f"Body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        raise _unparsable(message) from exc
    except _NonJsonConstant as exc:
        raise _unparsable(f"Body is not valid JSON: {exc} is not a JSON value.") from exc
    except ValueError as exc:  # e.g. an integer longer than sys.get_int_max_str_digits()
        raise _unparsable(f"Body is not valid JSON: {str(exc).rstrip('.')}.") from exc
    except RecursionError as exc:
        raise _unparsable("Body is not valid JSON: it is nested too deeply to decode.") from exc
    return document


def _check_decoded(body: bytes | str, document: object, limit: int) -> None:
    """Refuse a decoded ``document`` nested deeper than ``limit`` or holding NUL."""
    # Counting brackets is cheap (C speed); the walk only runs when there are enough
    # of them for the document to be that deep at all. JSON always escapes NUL, so the
    # body holds "\\u0000" wherever a string does; that walk too runs only then.
    if isinstance(body, str):
        brackets = body.count("[") + body.count("{")
        has_nul = "\\u0000" in body
    else:
        brackets = body.count(b"[") + body.count(b"{")
        has_nul = b"\\u0000" in body
    if brackets > limit and _too_deep(document, limit):
        message = (
            f"Body is nested more than {limit} levels deep; flatten it "
            "(deeper documents cannot be checked against the contracts)."
        )
        raise _unparsable(message)
    if has_nul and (path := _nul_path(document)) is not None:
        message = (
            "Body holds a string with the NUL character (\\u0000), which the stores cannot keep."
        )
        raise InvalidMessage(message, [ValidationIssue(path, message)])


def dump_json(value: object) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON (orjson; the standard library for what it
    cannot take, such as an integer outside 64 bits or a mapping that is not a dict).

    Non-ASCII characters are written as UTF-8, not ``\\u`` escapes, a ``NaN`` or infinite
    float as ``null`` (not JSON otherwise), and some floats spelled otherwise with the same
    value (``1e-7``, not ``1e-07``); apart from that the bytes are those of
    ``json.dumps(value, separators=(",", ":"))``.
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

MAX_JSON_DEPTH = 100
"""Deepest nesting of arrays and objects a body may have (by default).

jsonschema-rs cannot check a document nested 255 levels or more, and a job's payload
sits three levels down in the envelopes that carry it: well below both.
"""


def _too_deep(document: object, limit: int) -> bool:
    """Whether ``document`` nests arrays and objects more than ``limit`` levels deep.

    Only containers go on the stack (leaves are passed over where they are found): four
    to six times faster than stacking every value, and it runs on every message of many
    envelopes. A loop, not recursion, so any ``limit`` a caller gives is safe.
    """
    kind = type(document)
    if kind is not dict and kind is not list:
        return False
    stack: list[tuple[int, Any]] = [(1, document)]
    pop, push = stack.pop, stack.append
    while stack:
        depth, container = pop()
        if depth > limit:
            return True
        for child in container.values() if type(container) is dict else container:
            kind = type(child)
            if kind is dict or kind is list:
                push((depth + 1, child))
    return False


class _OutOfRange(ValueError):
    pass


def _bounded_int(text: str) -> int:
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        shown = text if len(text) <= 30 else f"{text[:27]}..."
        raise _OutOfRange(
            f"Body holds the integer {shown}, which does not fit in 64 bits (the stores keep "
            "64-bit integers); send it as a string."
        )
    return value


def _pointer_part(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _nul_path(value: object) -> str | None:
    """The JSON Pointer of the first string (or key) holding a NUL, or ``None``.

    A NUL in a key is written ``\\u0000`` in the pointer.
    """
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}/{_pointer_part(key)}"
                if "\x00" in key:
                    # Shown escaped: a path holding NUL would itself be refused wherever
                    # it is kept or parsed again (a dead letter's errors, say).
                    return child_path.replace("\x00", "\\u0000")
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}/{index}", child) for index, child in enumerate(item))
    return None


def _unparsable(message: str) -> InvalidMessage:
    return InvalidMessage(message, [ValidationIssue("", message)])


def depth_issue(value: object, max_depth: int) -> ValidationIssue | None:
    """The first array or object nested deeper than ``max_depth``, located; else ``None``."""
    stack: list[tuple[str, object, int]] = [("", value, 1)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, dict):
            children = [(f"{path}/{_pointer_part(k)}", v) for k, v in item.items()]
        elif isinstance(item, list):
            children = [(f"{path}/{i}", v) for i, v in enumerate(item)]
        else:
            continue
        if depth > max_depth:
            return ValidationIssue(
                path, f"Nested more than {max_depth} levels deep; flatten the document."
            )
        stack.extend((child_path, child, depth + 1) for child_path, child in children)
    return None
