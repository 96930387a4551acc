"""Tests for ``contracts.parse_json``: strict UTF-8 JSON decoding with precise errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings, strategies as st

from actors.errors import InvalidMessage, ValidationIssue
from contracts import MAX_JSON_DEPTH, SchemaName, dump_json, get_contracts, parse_json
from contracts._validation import _check_decoded, _slow_loads, _too_deep

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.mark.parametrize(
    "body", [b'{"a": [1, 2.5, true, null, "\xc3\xa9"]}', '{"a": [1, 2.5, true, null, "é"]}']
)
def test_parse_json_decodes_bytes_and_text(body: bytes | str) -> None:
    assert parse_json(body) == {"a": [1, 2.5, True, None, "é"]}


def test_parse_json_accepts_any_json_value_at_the_top() -> None:
    assert parse_json(b" 42 ") == 42


def test_parse_json_rejects_bytes_that_are_not_utf_8() -> None:
    message = "Body is not valid UTF-8: invalid start byte at byte 2."
    with pytest.raises(InvalidMessage, match=rf"^{message}$") as caught:
        parse_json(b'{"\xff": 1}')
    assert caught.value.issues == [ValidationIssue("", message)]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"", "Expecting value at line 1 column 1"),
        (b'{"a": 1}\n x', "Extra data at line 2 column 2"),
        (b'{\n"a" 1}', "Expecting ':' delimiter at line 2 column 5"),
        (
            "\ufeff{}".encode(),
            r"Unexpected UTF-8 BOM \(decode using utf-8-sig\) at line 1 column 1",
        ),
    ],
)
def test_parse_json_says_what_is_wrong_and_where(body: bytes, where: str) -> None:
    with pytest.raises(InvalidMessage, match=rf"^Body is not valid JSON: {where}\.$") as caught:
        parse_json(body)
    assert [issue.path for issue in caught.value.issues] == [""]
    assert caught.value.issues[0].message == str(caught.value)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_parse_json_rejects_non_json_constants(constant: str) -> None:
    with pytest.raises(
        InvalidMessage, match=rf"^Body is not valid JSON: {constant} is not a JSON value\.$"
    ):
        parse_json(f'{{"value": [1, {constant}]}}')


def test_parse_json_rejects_nesting_too_deep_to_decode() -> None:
    with pytest.raises(
        InvalidMessage, match=r"^Body is not valid JSON: it is nested too deeply to decode\.$"
    ):
        parse_json(b"[" * 100_000 + b"]" * 100_000)


def test_issue_9_parse_json_refuses_nesting_deeper_than_the_contracts_can_check() -> None:
    assert parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None
    deeper = b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(
        InvalidMessage,
        match=rf"^Body is nested more than {MAX_JSON_DEPTH} levels deep; flatten it ",
    ):
        parse_json(deeper)
    assert parse_json(deeper, max_depth=MAX_JSON_DEPTH + 1) is not None


def _nested(depth: int) -> object:
    """A value ``depth`` levels deep, objects and arrays alternating, strings of brackets
    beside them (``[1, {"k": [1, ..., "]]"], "n": 1}, "]]"]``)."""
    value: object = "leaf"
    for level in range(depth):
        value = {"k": value, "n": level} if level % 2 else [1, value, "]]"]
    return value


def _message(branch_depth: int) -> dict[str, object]:
    """Many wide, shallow siblings (4 levels, as a message of many envelopes), then one
    branch ``branch_depth`` levels deep under the top-level object."""
    shallow = [{"a": [1, 2, {"b": "[[[["}]} for _ in range(200)]
    return {"envelopes": shallow, "last": _nested(branch_depth)}


@pytest.mark.parametrize("depth", [5, 6, 50, MAX_JSON_DEPTH])
def test_the_depth_check_finds_the_one_deep_branch_among_many_shallow_ones(depth: int) -> None:
    document = _message(depth - 1)  # the top-level object is the first level

    assert not _too_deep(document, depth)
    assert _too_deep(document, depth - 1)
    body = dump_json(document)
    assert parse_json(body, max_depth=depth) == document
    with pytest.raises(InvalidMessage, match=rf"^Body is nested more than {depth - 1} levels"):
        parse_json(body, max_depth=depth - 1)


@pytest.mark.parametrize(
    ("document", "depth"),
    [("text", 0), (7, 0), ([], 1), ({}, 1), ([[], {}], 2), ({"a": [{"b": []}]}, 4)],
)
def test_the_depth_of_small_documents(document: object, depth: int) -> None:
    assert not _too_deep(document, depth)
    if depth:
        assert _too_deep(document, depth - 1)


def test_issue_9_a_document_too_deep_for_jsonschema_rs_is_an_issue_not_a_crash() -> None:
    deep: object = []
    for _ in range(300):
        deep = [deep]
    assert [i.path for i in get_contracts().issues(SchemaName.EVENT_ENVELOPE, deep)] == [""]
    with pytest.raises(InvalidMessage) as refused:
        get_contracts().validate(SchemaName.JOB, {"payload": deep})
    [issue] = refused.value.issues
    assert issue.message.endswith("it is probably nested too deeply.")


def test_parse_json_rejects_a_number_too_long_to_decode() -> None:
    with pytest.raises(InvalidMessage, match=r"^Body is not valid JSON: .*digits.*\.$"):
        parse_json(b"1" * 5_000)


def test_a_string_with_nul_is_refused_because_no_store_keeps_it() -> None:
    with pytest.raises(
        InvalidMessage,
        match=r"^Body holds a string with the NUL character \(\\u0000\), which the stores cannot keep\.$",
    ):
        parse_json(b'{"payload": {"k\\u0000": 1}}')
    # Each is located by its JSON Pointer, so a form can show it by the field.
    for body, path in [
        # A NUL in a key is shown escaped: a path holding NUL would be refused in turn.
        (b'{"payload": {"k\\u0000": 1}}', "/payload/k\\u0000"),
        (b'{"payload": {"text": "a\\u0000b"}}', "/payload/text"),
        (b'{"a/b": [1, "\\u0000"]}', "/a~1b/1"),
        (b'"\\u0000"', ""),
    ]:
        with pytest.raises(InvalidMessage) as refused:
            parse_json(body)
        assert [issue.path for issue in refused.value.issues] == [path]
    # An escaped backslash followed by "u0000" is not a NUL.
    assert parse_json(b'{"a": "\\\\u0000"}') == {"a": "\\u0000"}


def test_integers_beyond_64_bits_are_refused_and_the_limits_accepted() -> None:
    with pytest.raises(InvalidMessage, match=r"^Body holds the integer 9223372036854775808, "):
        parse_json(b"[9223372036854775808]")
    assert parse_json(b"[9223372036854775807, -9223372036854775808]") == [
        2**63 - 1,
        -(2**63),
    ]


@pytest.mark.parametrize("body", [b"[18446744073709551615]", "[18446744073709551615]"])
def test_integers_that_orjson_would_take_but_64_bits_signed_do_not_hold_are_refused(
    body: bytes | str,
) -> None:
    # orjson decodes up to 2**64 - 1; the contract's limit is the signed one.
    with pytest.raises(InvalidMessage, match=r"^Body holds the integer 18446744073709551615, "):
        parse_json(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": [1, -0, -0.0, 1E5, 2.5e-3, 1e-400], "b": {"c": null, "c": false}}',
        b'"\\ud800"',  # a lone surrogate: orjson refuses it, the standard library takes it
        b"1e400",  # infinite as a double: orjson refuses it, the standard library takes it
        b'{"long": "12345678901234567890123", "n": 1234567890123456789}',
        ' [\t"\u00e9\\n", {}]\r\n'.encode(),
    ],
)
def test_parse_json_decodes_what_the_standard_library_decodes(body: bytes) -> None:
    """The orjson fast path and the standard library agree (one of them decides)."""
    assert parse_json(body) == json.loads(body)
    assert parse_json(body.decode()) == json.loads(body)


@pytest.mark.parametrize(
    "value",
    [
        {"eventType": "job.created", "payload": {"id": "a", "n": [1, 2.5, -0.0, 1e16, 0.001]}},
        [{"a": None, "b": True}, 'text with "quotes" and \\ and \n'],
        {"big": 2**63 - 1, "small": -(2**63)},
    ],
)
def test_dump_json_writes_the_bytes_of_compact_json_dumps(value: object) -> None:
    assert dump_json(value) == json.dumps(value, separators=(",", ":")).encode()


def test_dump_json_writes_non_ascii_as_utf_8_and_round_trips() -> None:
    value = {"name": "café ✓", "emoji": "\U0001f680"}
    assert dump_json(value) == '{"name":"café ✓","emoji":"\U0001f680"}'.encode()
    assert parse_json(dump_json(value)) == value
    # A float may be spelled differently (1e-7, not 1e-07), never with another value.
    assert parse_json(dump_json([1e-7, 1.5e300])) == [1e-7, 1.5e300]


def test_dump_json_falls_back_to_the_standard_library_for_what_orjson_cannot_take() -> None:
    # An integer beyond 64 bits (a handler's result may hold one): written, as before;
    # its consumer refuses it like any other such integer.
    assert dump_json({"n": 2**70}) == b'{"n":1180591620717411303424}'
    with pytest.raises(InvalidMessage, match=r"^Body holds the integer 1180591620717411303424, "):
        parse_json(dump_json({"n": 2**70}))


def _standard_library_only(body: bytes) -> object:
    """What ``parse_json`` answered before orjson: the standard library decides alone."""
    document = _slow_loads(body)
    _check_decoded(body, document, MAX_JSON_DEPTH)
    return document


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def _outcome(body: bytes, decode: Callable[[bytes], object]) -> tuple[str, object]:
    try:
        return ("ok", decode(body))
    except InvalidMessage as exc:
        return ("refused", (str(exc), exc.issues))


@settings(max_examples=400, deadline=None)
@given(
    value=_JSON_VALUES,
    ensure_ascii=st.booleans(),
    junk=st.sampled_from([b"", b" ", b"x", b"\xff", b"\\u0000", b"]"]),
)
def test_parse_json_answers_as_the_standard_library_alone(
    value: object, ensure_ascii: bool, junk: bytes
) -> None:
    """Differential: the orjson fast path never changes what is accepted, decoded or refused."""
    body = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass") + junk
    expected = _outcome(body, _standard_library_only)
    actual = _outcome(body, parse_json)
    # NaN is never equal to itself: compare what the two decoded through their JSON text.
    assert json.dumps(actual, default=repr) == json.dumps(expected, default=repr)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=40))
def test_parse_json_answers_as_the_standard_library_alone_on_random_bytes(body: bytes) -> None:
    expected = _outcome(body, _standard_library_only)
    actual = _outcome(body, parse_json)
    assert json.dumps(actual, default=repr) == json.dumps(expected, default=repr)


def test_the_depth_check_answers_for_any_limit_a_caller_gives() -> None:
    """``max_depth`` is the caller's: a document far deeper than Python's recursion limit
    is measured, not a RecursionError."""
    document: list[object] = []
    inner = document
    for _ in range(5000):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]

    assert not _too_deep(document, 5001)
    assert _too_deep(document, 5000)
