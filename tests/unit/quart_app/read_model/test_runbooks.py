"""Issue 16 (item 9): every alert's ``runbook_url`` is a real link, the read model's
``GET /runbooks``, with a section for every alert of the Prometheus rules and of the
read model's own rules."""

from __future__ import annotations

import re
import tomllib
from contextlib import AsyncExitStack
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import yaml

from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.kernel import ActorHealth, ActorState
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from quart_app.read_model.runbooks import RUNBOOKS_FILE, anchor, render_runbooks
from quart_app.read_model.service import ReadModelService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[4]
RULE_FILES = [
    ROOT / "manifests" / "prometheus" / "rules.yml",
    ROOT / "manifests" / "base" / "monitoring" / "prometheus" / "rules.yml",
]
READ_MODEL_RULES = ["JobFailureRateHigh", "DeadLettersAppearing", "ActorRestartLoop"]
"""The rules the read model evaluates itself (quart_app/read_model/alert_rules.py)."""
VIEWER = "viewer-token-0123456789abcdef"


def _rule_alerts() -> set[str]:
    names = set()
    for path in RULE_FILES:
        document = yaml.safe_load(path.read_text())
        names |= {str(r["alert"]) for g in document["groups"] for r in g["rules"]}
    return names


def _ids(page: str) -> list[str]:
    return re.findall(r'<h[1-6] id="([^"]+)"', page)


def test_headings_get_githubs_anchors() -> None:
    page = render_runbooks("# Runbooks\n\n## ServiceDown\ntext `code`\n\n### Rabbit MQ, down!\n")
    assert _ids(page) == ["runbooks", "servicedown", "rabbit-mq-down"]
    assert "<title>Runbooks</title>" in page
    assert "<code>code</code>" in page
    assert anchor("DeadLettersAppearing") == "deadlettersappearing"


@pytest.fixture
async def read_model(tmp_path: Path) -> AsyncIterator[ReadModelService]:
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(open_sqlite_dead_letter_store(tmp_path / "d.db"))
        restarts = {"count": 0}

        def health() -> list[ActorHealth]:
            # An actor that keeps restarting: ActorRestartLoop fires at once.
            restarts["count"] += 10
            return [
                ActorHealth(
                    "observatory/processor/executor", ActorState.RUNNING, restarts=restarts["count"]
                )
            ]

        service = ReadModelService(
            jobs,
            events,
            dead,
            MemoryCounters(),
            Settings(read_model_port=0, api_tokens={VIEWER: "viewer"}, shutdown_s=1.0),
            handlers=DEFAULT_REGISTRY,
            evaluate_alerts_from=health,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            yield service
            service.request_stop()


async def test_the_read_model_serves_a_section_for_every_alert_without_a_token(
    read_model: ReadModelService,
) -> None:
    async with httpx.AsyncClient(base_url=read_model.url) as client:
        response = await client.get("/runbooks")  # open, like /docs: no job data
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        ids = set(_ids(response.text))
        alerts = _rule_alerts() | set(READ_MODEL_RULES)
        assert len(alerts) == 10
        assert sorted(a for a in alerts if anchor(a) not in ids) == []
        document = (await client.get("/openapi.json")).json()
        assert "security" not in document["paths"]["/runbooks"]["get"]


async def test_the_read_models_own_alerts_link_to_its_runbooks(
    read_model: ReadModelService,
) -> None:
    async with httpx.AsyncClient(
        base_url=read_model.url, headers={"Authorization": f"Bearer {VIEWER}"}
    ) as client:
        assert read_model.evaluator is not None
        for _ in range(2):  # two samples: restarts between them
            await read_model.evaluator.evaluate()
        [alert] = (await client.get("/alerts")).json()["active"]
        assert alert["name"] == "ActorRestartLoop"
        url = alert["annotations"]["runbook_url"]
        # The bound port: a link that opens, here and in `observatory up`.
        assert url == f"{read_model.url}/runbooks#actorrestartloop"
        page = (await client.get(url.split("#")[0])).text
        assert url.split("#")[1] in _ids(page)


def test_the_runbooks_ship_inside_the_package() -> None:
    # An installed copy (the image's wheel) serves them: package data of quart_app.
    package = ROOT / "quart_app"
    assert RUNBOOKS_FILE.resolve().is_relative_to(package)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["quart_app"]
    relative = RUNBOOKS_FILE.relative_to(package).as_posix()
    assert any(fnmatch(relative, pattern) for pattern in patterns), patterns
    # docs/runbooks.md, where the README points, is the same file.
    assert (ROOT / "docs" / "runbooks.md").read_text() == RUNBOOKS_FILE.read_text()
