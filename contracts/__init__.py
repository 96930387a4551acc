"""The contracts every service keeps: JSON Schemas, their fixtures, and a fast validator.

Usage::

    from contracts import SchemaName, get_contracts, parse_json

    document = parse_json(body)  # raises InvalidMessage on bad UTF-8 or JSON
    get_contracts().validate(SchemaName.EVENT_ENVELOPE, document)  # raises InvalidMessage

``contracts/schemas/<name>.json`` carry ``$id`` and ``$version``; ``contracts/fixtures/``
holds ``golden/`` documents that must validate, ``negative/`` ones that must not (their
``_comment`` and ``_expectedError`` keys are not part of the document), and
``schema-compat/`` old/new schema pairs for the compatibility check.
"""

from __future__ import annotations

from contracts._payload_schema import PayloadSchema
from contracts._validation import (
    MAX_JSON_DEPTH,
    Contracts,
    SchemaName,
    depth_issue,
    dump_json,
    fixtures_dir,
    get_contracts,
    parse_json,
    schemas_dir,
)

__all__ = [
    "MAX_JSON_DEPTH",
    "Contracts",
    "PayloadSchema",
    "SchemaName",
    "depth_issue",
    "dump_json",
    "fixtures_dir",
    "get_contracts",
    "parse_json",
    "schemas_dir",
]
