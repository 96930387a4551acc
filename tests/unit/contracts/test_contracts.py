"""Tests for ``contracts``: the schemas, their fixtures and the validator."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from actors.domain.dead_letters import DeadLetter, dead_letter_id
from actors.domain.events import EventType
from actors.domain.stats import Stats
from actors.errors import ConfigError, InvalidMessage, ValidationIssue
from contracts import Contracts, SchemaName, fixtures_dir, get_contracts, schemas_dir

# The inherited contracts we must never break; absent outside the development machines.
# The repository's sibling folder shared/ (as laid out for development and CI).
REFERENCE_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "contracts"
INHERITED = (SchemaName.JOB, SchemaName.EVENT_ENVELOPE, SchemaName.JOB_ACCEPTED)
VALID_UUID = "550e8400-e29b-41d4-a716-446655440000"
VALID_TIME = "2025-01-01T12:00:00Z"


def _fixture_paths(kind: str) -> list[Path]:
    return sorted((fixtures_dir() / kind).glob("*.json"))


def _schema_for(fixture: Path) -> SchemaName:
    """The contract a fixture belongs to: the longest schema name prefixing its stem."""
    matches = [name for name in SchemaName if fixture.stem.startswith(f"{name}-")]
    assert matches, f"Fixture {fixture.name} is not named after any contract."
    return max(matches, key=len)


def _load(fixture: Path) -> dict[str, object]:
    doc: object = json.loads(fixture.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _document(fixture: Path) -> dict[str, object]:
    """The fixture without its ``_comment``/``_expectedError`` annotations."""
    return {key: value for key, value in _load(fixture).items() if not key.startswith("_")}


def _job(**changes: object) -> dict[str, object]:
    job: dict[str, object] = {
        "id": VALID_UUID,
        "type": "echo",
        "status": "PENDING",
        "createdAt": VALID_TIME,
    }
    job.update(changes)
    return job


# --- fixtures -------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", _fixture_paths("golden"), ids=lambda p: p.stem)
def test_golden_fixture_matches_its_contract(fixture: Path) -> None:
    assert get_contracts().issues(_schema_for(fixture), _document(fixture)) == []


# Where each negative fixture's problem must be reported. Adding a negative fixture
# means adding its expected path here (test_every_negative_fixture_has_an_expectation).
NEGATIVE_PATHS = {
    "dead-letter-bad-encoding": "/originalBodyEncoding",
    "dead-letter-missing-reason": "/reason",
    "event-envelope-missing-eventId": "/eventId",
    "event-envelope-missing-producer": "/producer",
    "event-envelope-producer-incomplete": "/producer/service",
    "event-envelope-wrong-type": "/eventType",
    "job-invalid-status": "/status",
    "job-missing-id": "/id",
    "job-submission-id-not-uuid": "/id",
    "job-submission-missing-type": "/type",
    "job-submission-payload-not-object": "/payload",
    "job-submission-type-too-long": "/type",
    "job-submission-type-with-space": "/type",
    "job-submission-unknown-property": "/urgency",
    "job-wrong-status-type": "/status",
}
# What our issue message says for each kind of ``_expectedError`` (its first word).
EXPECTED_MESSAGES = {
    "additionalProperties": r"^Property '\w+' is not allowed here\.$",
    "enum": r"^.+ is not one of .+$",
    "format": r'^".+" is not a "uuid"$',
    "maxLength": r'^"a{51}" is longer than 50 characters$',
    "pattern": r'^".+" does not match "\^\[A-Za-z0-9_-\]\+\$"$',
    "required": r'^"[A-Za-z]+" is a required property$',
    "type": r'^.+ is not of type "(string|object)"$',
}


def test_every_negative_fixture_has_an_expectation() -> None:
    assert sorted(p.stem for p in _fixture_paths("negative")) == sorted(NEGATIVE_PATHS)


@pytest.mark.parametrize("fixture", _fixture_paths("negative"), ids=lambda p: p.stem)
def test_negative_fixture_breaks_its_contract_where_expected(fixture: Path) -> None:
    expected_error = _load(fixture)["_expectedError"]
    assert isinstance(expected_error, str)
    kind = expected_error.split()[0]
    path = NEGATIVE_PATHS[fixture.stem]

    issues = get_contracts().issues(_schema_for(fixture), _document(fixture))

    at_path = [issue for issue in issues if issue.path == path]
    assert at_path, f"No issue at {path!r}: {issues}"
    assert any(re.fullmatch(EXPECTED_MESSAGES[kind], i.message) for i in at_path), at_path
    if property_name := re.fullmatch(r"required property '(\w+)'", expected_error):
        assert path == f"/{property_name[1]}"
        assert ValidationIssue(path, f'"{property_name[1]}" is a required property') in issues


def test_reference_fixtures_are_shipped_byte_for_byte() -> None:
    reference = REFERENCE_DIR / "fixtures"
    if not reference.is_dir():
        pytest.skip(f"The reference contracts are not on this machine ({reference} is absent).")
    originals = sorted(p.relative_to(reference) for p in reference.rglob("*.json"))
    assert originals
    for relative in originals:
        shipped = fixtures_dir() / relative
        change = DELIBERATE_FIXTURE_CHANGES.get(relative.as_posix(), _same_bytes)
        assert shipped.read_bytes() == change((reference / relative).read_bytes()), relative


def _same_bytes(original: bytes) -> bytes:
    return original


def _urgency_unknown(original: bytes) -> bytes:
    """``priority`` became a property of the submission (issue 18, priorities): the short
    form's unknown property is now another one."""
    return original.replace(b'"priority": "high"', b'"urgency": "high"')


# Where we deliberately part from an inherited fixture; every other one ships unchanged.
DELIBERATE_FIXTURE_CHANGES = {
    "negative/job-submission-unknown-property.json": _urgency_unknown,
}


def test_inherited_schemas_are_unchanged_in_meaning() -> None:
    reference = REFERENCE_DIR / "schemas"
    if not reference.is_dir():
        pytest.skip(f"The reference contracts are not on this machine ({reference} is absent).")
    for name in INHERITED:
        original = json.loads((reference / f"{name}.json").read_text(encoding="utf-8"))
        assert get_contracts().schema(name) == DELIBERATE_CHANGES.get(name, _same)(original), name


def _same(schema: dict[str, object]) -> dict[str, object]:
    return schema


def _relaxed_correlation_id(schema: dict[str, object]) -> dict[str, object]:
    """The envelope as we ship it: ``correlationId`` is the client's ``X-Correlation-Id``
    as it sent it, 1 to 128 printable ASCII characters (issue 16, item 3), where the
    inherited contract wants a UUID; a relaxation, so version 1.1.0."""
    properties = schema["properties"]
    assert isinstance(properties, dict)
    assert properties["correlationId"] == {"type": "string", "format": "uuid"}
    return {
        **schema,
        "$version": "1.1.0",
        "properties": {
            **properties,
            "correlationId": {
                "description": "The client's X-Correlation-Id as it sent it (1 to 128 "
                "printable ASCII characters), or a UUID the gateway made. Relaxed from the "
                "inherited format uuid in 1.1.0.",
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "pattern": "^[ -~]+$",
            },
        },
    }


def _envelope_as_shipped(schema: dict[str, object]) -> dict[str, object]:
    """1.1.0 (:func:`_relaxed_correlation_id`), then 1.2.0: the event type
    ``jobs.bulk-action`` (issue 17, item 3: a bulk action in the audit trail, its payload a
    ``bulk-action.json`` document) added to the enum, a widening, and the payload's
    description saying which contract each event type's payload follows."""
    relaxed = _relaxed_correlation_id(schema)
    properties = relaxed["properties"]
    assert isinstance(properties, dict)
    event_type = properties["eventType"]
    assert event_type["enum"][-1] == "job.completed"
    return {
        **relaxed,
        "$version": "1.2.0",
        "properties": {
            **properties,
            "eventType": {**event_type, "enum": [*event_type["enum"], "jobs.bulk-action"]},
            "payload": {
                "description": "A job (job.json) for the job.* events; a bulk action "
                "(bulk-action.json) for jobs.bulk-action, added in 1.2.0.",
                **properties["payload"],
            },
        },
    }


def _delayed_job(schema: dict[str, object]) -> dict[str, object]:
    """The job as we ship it: an optional ``scheduledFor`` (issue 18, delayed jobs), then
    an optional ``priority`` (issue 18, priorities); added optional properties, so
    versions 1.1.0 and 1.2.0."""
    properties = schema["properties"]
    assert isinstance(properties, dict)
    assert "scheduledFor" not in properties
    assert "priority" not in properties
    shipped = get_contracts().schema(SchemaName.JOB)["properties"]
    assert isinstance(shipped, dict)
    assert shipped["scheduledFor"]["type"] == "string"
    assert shipped["priority"]["type"] == "integer"
    return {
        **schema,
        "$version": "1.2.0",
        "properties": {
            **properties,
            "scheduledFor": shipped["scheduledFor"],
            "priority": shipped["priority"],
        },
    }


def _delayed_submission(schema: dict[str, object]) -> dict[str, object]:
    """The submission as we ship it: optional ``runAt`` and ``delaySeconds`` in both
    forms (issue 18, delayed jobs), then ``priority`` (issue 18, priorities); added
    optional properties, so versions 1.1.0 and 1.2.0."""
    shipped = get_contracts().schema(SchemaName.JOB_SUBMISSION)
    added = {"runAt": {"$ref": "#/definitions/runAt"}}
    added["delaySeconds"] = {"$ref": "#/definitions/delaySeconds"}
    added["priority"] = {"$ref": "#/definitions/priority"}
    properties, short_form, definitions = (
        schema["properties"],
        schema["else"],
        schema["definitions"],
    )
    assert isinstance(properties, dict)
    assert isinstance(short_form, dict)
    assert isinstance(definitions, dict)
    short_properties = short_form["properties"]
    assert isinstance(short_properties, dict)
    shipped_definitions = shipped["definitions"]
    assert isinstance(shipped_definitions, dict)
    return {
        **schema,
        "$version": "1.2.0",
        "description": shipped["description"],
        "properties": {**properties, **added},
        "else": {**short_form, "properties": {**short_properties, **added}},
        "definitions": {
            "priority": shipped_definitions["priority"],
            "runAt": shipped_definitions["runAt"],
            "delaySeconds": shipped_definitions["delaySeconds"],
            **definitions,
        },
    }


# Where we deliberately part from an inherited schema; everything else must stay equal.
DELIBERATE_CHANGES = {
    SchemaName.EVENT_ENVELOPE: _envelope_as_shipped,
    SchemaName.JOB: _delayed_job,
    SchemaName.JOB_SUBMISSION: _delayed_submission,
}


def test_the_envelope_accepts_any_printable_ascii_correlation_id_up_to_128() -> None:
    envelope = _document(fixtures_dir() / "golden" / "event-envelope-valid.json")
    for accepted in ("order-42 / retry #1", "x" * 128, "550e8400-e29b-41d4-a716-446655440000"):
        assert (
            get_contracts().issues(
                SchemaName.EVENT_ENVELOPE, {**envelope, "correlationId": accepted}
            )
            == []
        )
    for refused in ("", "x" * 129, "caf\u00e9", "tab\there"):
        issues = get_contracts().issues(
            SchemaName.EVENT_ENVELOPE, {**envelope, "correlationId": refused}
        )
        assert {issue.path for issue in issues} == {"/correlationId"}, refused


# --- the schemas ----------------------------------------------------------------------


def test_schemas_dir_holds_exactly_the_named_contracts() -> None:
    assert sorted(p.stem for p in schemas_dir().glob("*.json")) == sorted(SchemaName)
    assert get_contracts().names() == tuple(SchemaName)


def test_every_schema_has_a_unique_id_and_a_semver_version() -> None:
    contracts = get_contracts()
    ids = [contracts.schema(name)["$id"] for name in contracts.names()]
    assert len(set(ids)) == len(ids)
    for name, schema_id in zip(contracts.names(), ids, strict=True):
        assert schema_id == f"https://odd-demonstration.local/schemas/{name}.json"
        assert re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", contracts.version(name))


def test_every_schema_is_draft_07() -> None:
    for name in SchemaName:
        schema = get_contracts().schema(name)
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#", name


def test_schema_returns_a_copy_callers_cannot_corrupt() -> None:
    contracts = Contracts()
    schema = contracts.schema(SchemaName.JOB)
    properties = schema["properties"]
    assert isinstance(properties, dict)
    properties.clear()
    assert contracts.schema(SchemaName.JOB)["properties"]
    assert contracts.issues(SchemaName.JOB, _job(id="nope")) != []


def test_get_contracts_builds_one_instance_per_process() -> None:
    assert get_contracts() is get_contracts()
    assert repr(get_contracts()).startswith("<Contracts job@1.2.0, event-envelope@1.2.0,")


# --- issues and validate --------------------------------------------------------------


def test_issues_reports_every_problem_sorted_by_path() -> None:
    doc = _job(id="nope", status="DONE", createdAt="yesterday")
    assert get_contracts().issues(SchemaName.JOB, doc) == [
        ValidationIssue("/createdAt", '"yesterday" is not a "date-time"'),
        ValidationIssue("/id", '"nope" is not a "uuid"'),
        ValidationIssue(
            "/status", '"DONE" is not one of "PENDING", "VALIDATED" or 3 other candidates'
        ),
    ]


def test_missing_required_properties_are_reported_at_their_own_paths() -> None:
    assert get_contracts().issues(SchemaName.JOB, {"type": "echo"}) == [
        ValidationIssue("/createdAt", '"createdAt" is a required property'),
        ValidationIssue("/id", '"id" is a required property'),
        ValidationIssue("/status", '"status" is a required property'),
    ]


def test_issues_are_deduplicated() -> None:
    # Both the top level and the job.json branch of job-submission reject a non-object.
    assert get_contracts().issues(SchemaName.JOB_SUBMISSION, 5) == [
        ValidationIssue("", '5 is not of type "object"')
    ]


def test_issue_paths_are_escaped_json_pointers() -> None:
    stats = Stats().to_json() | {"byType": {"a/b~c": {"total": -1, "completed": 0, "failed": 0}}}
    assert get_contracts().issues(SchemaName.STATS, stats) == [
        ValidationIssue("/byType/a~1b~0c/total", "-1 is less than the minimum of 0")
    ]


def test_issue_paths_index_into_arrays() -> None:
    doc = {"error": "Bad request.", "details": [{"path": "", "message": "ok"}, {"path": ""}]}
    assert get_contracts().issues(SchemaName.ERROR, doc) == [
        ValidationIssue("/details/1/message", '"message" is a required property')
    ]


def test_validate_accepts_a_matching_document() -> None:
    get_contracts().validate(SchemaName.JOB, _job())


def test_validate_raises_invalid_message_with_every_issue() -> None:
    doc = _job(id="nope", status="DONE", createdAt="yesterday")
    with pytest.raises(
        InvalidMessage, match=r"^The document does not match the job contract: 3 problems\.$"
    ) as caught:
        get_contracts().validate(SchemaName.JOB, doc)
    assert caught.value.issues == get_contracts().issues(SchemaName.JOB, doc)


def test_validate_counts_a_single_problem_in_the_singular() -> None:
    with pytest.raises(
        InvalidMessage,
        match=r"^The document does not match the job-accepted contract: 1 problem\.$",
    ) as caught:
        get_contracts().validate(SchemaName.JOB_ACCEPTED, {"jobId": VALID_UUID})
    assert caught.value.issues == [ValidationIssue("/eventId", '"eventId" is a required property')]


# --- formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        "550e8400e29b41d4a716446655440000",
        "{550e8400-e29b-41d4-a716-446655440000}",
        "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
        "550e8400-e29b-41d4-a716-44665544000g",
        " 550e8400-e29b-41d4-a716-446655440000",
        "",
    ],
)
def test_uuid_format_is_enforced(value: str) -> None:
    assert get_contracts().issues(SchemaName.JOB, _job(id=value)) == [
        ValidationIssue("/id", f'"{value}" is not a "uuid"')
    ]


def test_uuid_format_accepts_upper_case() -> None:
    assert get_contracts().issues(SchemaName.JOB, _job(id=VALID_UUID.upper())) == []


@pytest.mark.parametrize(
    "value",
    [
        "2025-13-45T99:00:00Z",
        "2025-02-30T12:00:00Z",
        "2025-01-01T12:00:00",
        "2025-01-01 12:00:00Z",
        "2025-01-01",
        "yesterday",
    ],
)
def test_date_time_format_is_enforced(value: str) -> None:
    assert get_contracts().issues(SchemaName.JOB, _job(createdAt=value)) == [
        ValidationIssue("/createdAt", f'"{value}" is not a "date-time"')
    ]


@pytest.mark.parametrize(
    "value", ["2025-01-01T12:00:00Z", "2025-01-01T12:00:00.123456+01:00", "2024-02-29T23:59:59Z"]
)
def test_date_time_format_accepts_rfc_3339(value: str) -> None:
    assert get_contracts().issues(SchemaName.JOB, _job(createdAt=value)) == []


# --- job-submission -------------------------------------------------------------------


@pytest.mark.parametrize("job_type", ["data-processing", "test-job", "echo", "a_B-9", "x" * 50])
def test_job_submission_accepts_golden_job_types(job_type: str) -> None:
    contracts = get_contracts()
    assert contracts.issues(SchemaName.JOB_SUBMISSION, {"type": job_type}) == []
    assert contracts.issues(SchemaName.JOB_SUBMISSION, _job(type=job_type)) == []


def test_job_submission_constrains_the_type_of_a_full_job_too() -> None:
    assert get_contracts().issues(SchemaName.JOB_SUBMISSION, _job(type="a b")) == [
        ValidationIssue("/type", '"a b" does not match "^[A-Za-z0-9_-]+$"')
    ]


def test_job_submission_rejects_an_empty_type() -> None:
    assert get_contracts().issues(SchemaName.JOB_SUBMISSION, {"type": ""}) == [
        ValidationIssue("/type", '"" does not match "^[A-Za-z0-9_-]+$"'),
        ValidationIssue("/type", '"" is shorter than 1 character'),
    ]


def test_job_submission_with_status_is_checked_as_a_full_job_through_ref() -> None:
    # job.json's rules arrive through a $ref to its $id, resolved from the local registry.
    doc = {"type": "echo", "status": "DONE", "payload": {}}
    assert get_contracts().issues(SchemaName.JOB_SUBMISSION, doc) == [
        ValidationIssue("/createdAt", '"createdAt" is a required property'),
        ValidationIssue("/id", '"id" is a required property'),
        ValidationIssue(
            "/status", '"DONE" is not one of "PENDING", "VALIDATED" or 3 other candidates'
        ),
    ]


def test_job_submission_full_form_allows_extra_properties_like_job() -> None:
    doc = _job(extraField="allowed")
    assert get_contracts().issues(SchemaName.JOB_SUBMISSION, doc) == []


def test_job_submission_short_form_reports_each_problem() -> None:
    doc = {"type": "echo", "id": "nope", "payload": [], "metadata": "x", "urgency": 1}
    assert get_contracts().issues(SchemaName.JOB_SUBMISSION, doc) == [
        ValidationIssue("/id", '"nope" is not a "uuid"'),
        ValidationIssue("/metadata", '"x" is not of type "object"'),
        ValidationIssue("/payload", '[] is not of type "object"'),
        ValidationIssue("/urgency", "Property 'urgency' is not allowed here."),
    ]


@pytest.mark.parametrize("priority", [0, 5, 9])
def test_issue_18_a_submission_may_carry_a_priority_from_0_to_9(priority: int) -> None:
    for doc in (
        {"type": "echo", "priority": priority},
        {
            "id": VALID_UUID,
            "type": "echo",
            "status": "PENDING",
            "createdAt": VALID_TIME,
            "priority": priority,
        },
    ):
        assert get_contracts().issues(SchemaName.JOB_SUBMISSION, doc) == []


@pytest.mark.parametrize("priority", [-1, 10, 2.5, "high", None])
def test_issue_18_a_priority_outside_0_to_9_is_refused_at_its_path(priority: object) -> None:
    issues = get_contracts().issues(
        SchemaName.JOB_SUBMISSION, {"type": "echo", "priority": priority}
    )
    assert [issue.path for issue in issues] == ["/priority"]


# --- $ref resolution stays local ------------------------------------------------------


def test_contracts_refuse_a_ref_they_would_have_to_fetch(tmp_path: Path) -> None:
    for schema in schemas_dir().glob("*.json"):
        shutil.copy(schema, tmp_path / schema.name)
    submission = tmp_path / "job-submission.json"
    submission.write_text(
        submission.read_text(encoding="utf-8").replace("schemas/job.json", "schemas/nowhere.json"),
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError,
        match=rf"^The contracts in {re.escape(str(tmp_path))} refer to a schema that is not "
        r"among them: Resource 'https://odd-demonstration\.local/schemas/nowhere\.json' is not "
        r"present in a registry",
    ):
        Contracts(tmp_path)


def test_contracts_report_a_malformed_schema(tmp_path: Path) -> None:
    for schema in schemas_dir().glob("*.json"):
        shutil.copy(schema, tmp_path / schema.name)
    stats = tmp_path / "stats.json"
    stats.write_text(
        stats.read_text(encoding="utf-8").replace('"minimum": 0', '"minimum": "zero"'),
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError,
        match=rf"^The stats contract in {re.escape(str(tmp_path))} is not a usable JSON Schema: ",
    ):
        Contracts(tmp_path)


def test_contracts_report_a_missing_schema_file(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"^Cannot load the job contract from {re.escape(str(tmp_path / 'job.json'))}: ",
    ):
        Contracts(tmp_path)


# --- the documents our own code produces ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "encoding"), [(b'{"eventId": "nope"}', "utf-8"), (b"\xff\xfe\x00", "base64")]
)
def test_dead_letter_to_json_matches_contract(body: bytes, encoding: str) -> None:
    issues = [ValidationIssue("/eventId", '"nope" is not a "uuid"')]
    for message_id, correlation_id in [(None, None), ("msg-1", VALID_UUID)]:
        letter = DeadLetter(
            dead_letter_id=dead_letter_id("jobs.created", message_id, body),
            queue="jobs.created",
            reason="The document does not match the event-envelope contract: 1 problem.",
            errors=issues,
            body=body,
            occurred_at=VALID_TIME,
            service="processor",
            version="0.1.0",
            message_id=message_id,
            correlation_id=correlation_id,
        )
        doc = letter.to_json()
        assert doc["originalBodyEncoding"] == encoding
        assert get_contracts().issues(SchemaName.DEAD_LETTER, doc) == []
        assert DeadLetter.from_json(doc) == letter


def test_stats_to_json_matches_contract() -> None:
    stats = Stats()
    assert get_contracts().issues(SchemaName.STATS, stats.to_json()) == []
    stats.count(EventType.VALIDATED, "echo", VALID_TIME)
    stats.count(EventType.VALIDATED, "data-processing", "2025-01-01T12:00:01Z")
    stats.count(EventType.COMPLETED, "echo", "2025-01-01T12:00:02Z")
    stats.count(EventType.FAILED, "data-processing", "2025-01-01T12:00:03Z")
    assert get_contracts().issues(SchemaName.STATS, stats.to_json()) == []


def test_error_body_built_from_invalid_message_matches_contract() -> None:
    with pytest.raises(InvalidMessage) as caught:
        get_contracts().validate(SchemaName.JOB, {})
    body = {
        "error": str(caught.value),
        "details": [issue.to_json() for issue in caught.value.issues],
    }
    assert get_contracts().issues(SchemaName.ERROR, body) == []
    assert get_contracts().issues(SchemaName.ERROR, {"error": "Not found."}) == []
