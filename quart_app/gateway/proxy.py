"""Compatibility routes of the gateway: ``GET /proxy/alerts`` and ``GET /proxy/targets``.

The web dashboard of the system we replace reads its alerts panel from the gateway's
``GET /proxy/alerts`` (Alertmanager's ``/api/v2/alerts`` list) and its targets from
``GET /proxy/targets`` (Prometheus' ``/api/v1/targets``). Both are served here, for any
token that may read (viewer role):

- with ``OBSERVATORY_ALERTMANAGER_URL`` / ``OBSERVATORY_PROMETHEUS_URL`` set, the request
  is forwarded there (its query string too) and the answer relayed; a server that does
  not answer within :attr:`ProxyConfig.timeout_s` is 504, one that cannot be reached (or
  answers an error) is 502;
- without them, ``/proxy/alerts`` is the read model's active alerts (``GET /alerts``,
  asked over HTTP with the caller's token: the gateway imports nothing of the read
  model) in Alertmanager's shape, and ``/proxy/targets`` the services this observatory
  knows, each with its health from its ``/healthz`` (the gateway's own from its
  readiness), in Prometheus' shape.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import httpx
from quart import Quart, Response, jsonify, request

from actors.domain.clock import utc_now
from quart_app._common import json_error
from quart_app.openapi import error_response, json_response, operation

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from actors.config.settings import Settings

__all__ = ["ProxyConfig", "install_proxy_routes"]

log = logging.getLogger(__name__)

_TAGS = ["compatibility"]
_ALERTMANAGER_ALERTS: dict[str, object] = {
    "description": "Alertmanager's `GET /api/v2/alerts` list (gettableAlerts).",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["labels", "annotations", "startsAt", "status"],
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "startsAt": {"type": "string"},
            "endsAt": {"type": "string"},
            "updatedAt": {"type": "string"},
            "fingerprint": {"type": "string"},
            "generatorURL": {"type": "string"},
            "receivers": {"type": "array", "items": {"type": "object"}},
            "status": {
                "type": "object",
                "required": ["state"],
                "properties": {
                    "state": {"type": "string"},
                    "silencedBy": {"type": "array", "items": {"type": "string"}},
                    "inhibitedBy": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_PROMETHEUS_TARGETS: dict[str, object] = {
    "description": "Prometheus' `GET /api/v1/targets` answer.",
    "type": "object",
    "required": ["status", "data"],
    "properties": {
        "status": {"type": "string"},
        "data": {
            "type": "object",
            "required": ["activeTargets"],
            "properties": {
                "activeTargets": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["labels", "scrapeUrl", "health"],
                        "properties": {
                            "labels": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "scrapePool": {"type": "string"},
                            "scrapeUrl": {"type": "string"},
                            "health": {"type": "string", "enum": ["up", "down", "unknown"]},
                            "lastError": {"type": "string"},
                            "lastScrape": {"type": "string"},
                            "lastScrapeDuration": {"type": "number"},
                        },
                    },
                },
                "droppedTargets": {"type": "array"},
            },
        },
    },
}
_UNREACHABLE = error_response(
    "Alertmanager or Prometheus (when configured), else the read model, could not be "
    "reached or answered an error."
)
_TIMED_OUT = error_response("It did not answer in time.")


class _Upstream(Exception):
    """A server this route relays could not give an answer; ``status`` is 502 or 504."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _env_url(name: str) -> str | None:
    value = os.environ.get(name, "").strip().rstrip("/")
    return value or None


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Where the compatibility routes get their answers.

    ============================================  ======================================
    setting (environment)                         effect
    ============================================  ======================================
    ``OBSERVATORY_ALERTMANAGER_URL``              ``/proxy/alerts`` forwarded there
    ``OBSERVATORY_PROMETHEUS_URL``                ``/proxy/targets`` forwarded there
    ``OBSERVATORY_READ_MODEL_URL``                the read model (default: this host,
                                                  the read model's port)
    ``OBSERVATORY_PROCESSOR_URL``,                more services listed by
    ``OBSERVATORY_METRICS_ENGINE_URL``            ``/proxy/targets``
    ============================================  ======================================
    """

    read_model_url: Callable[[], str]
    """The read model's base URL (a callable: in ``observatory up`` its port is bound late)."""
    alertmanager_url: str | None = None
    prometheus_url: str | None = None
    services: Mapping[str, str] = field(default_factory=dict)
    """Further services listed by ``/proxy/targets`` (name → base URL)."""
    timeout_s: float = 5.0
    """How long one call to another server may take (504 after it)."""

    @classmethod
    def from_env(
        cls, settings: Settings, *, read_model_url: Callable[[], str] | None = None
    ) -> ProxyConfig:
        """The configuration from the environment (see the table above)."""
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        configured = _env_url("OBSERVATORY_READ_MODEL_URL")
        default = configured or f"http://{host}:{settings.read_model_port}"
        services = {
            name: url
            for name, variable in (
                ("processor", "OBSERVATORY_PROCESSOR_URL"),
                ("metrics-engine", "OBSERVATORY_METRICS_ENGINE_URL"),
            )
            if (url := _env_url(variable))
        }
        return cls(
            read_model_url=(
                read_model_url if read_model_url is not None and not configured else lambda: default
            ),
            alertmanager_url=_env_url("OBSERVATORY_ALERTMANAGER_URL"),
            prometheus_url=_env_url("OBSERVATORY_PROMETHEUS_URL"),
            services=services,
        )


async def _get(
    url: str, *, timeout_s: float, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """``GET url``; 502 when it cannot be reached, 504 when it does not answer in time."""
    try:
        with anyio.fail_after(timeout_s):
            async with httpx.AsyncClient(timeout=timeout_s) as client:
                return await client.get(url, headers=dict(headers or {}))
    except (TimeoutError, httpx.TimeoutException):
        raise _Upstream(504, f"{url} did not answer within {timeout_s:g} s.") from None
    except httpx.HTTPError as exc:
        raise _Upstream(502, f"{url} could not be reached: {exc or type(exc).__name__}.") from None


async def _relay(base: str, path: str, timeout_s: float) -> Response:
    query = request.query_string.decode()
    url = f"{base}{path}" + (f"?{query}" if query else "")
    answer = await _get(url, timeout_s=timeout_s)
    if answer.status_code != 200:
        raise _Upstream(502, f"{base}{path} answered {answer.status_code}.")
    return Response(answer.content, status=200, content_type="application/json")


def _as_alertmanager(alert: Mapping[str, object]) -> dict[str, object]:
    labels = alert.get("labels")
    annotations = alert.get("annotations")
    out: dict[str, object] = {
        "labels": dict(labels) if isinstance(labels, dict) else {},
        "annotations": dict(annotations) if isinstance(annotations, dict) else {},
        "startsAt": alert.get("startsAt"),
        "updatedAt": alert.get("updatedAt"),
        "fingerprint": alert.get("fingerprint"),
        "receivers": [{"name": str(alert.get("source", "read-model"))}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    }
    if alert.get("endsAt"):
        out["endsAt"] = alert["endsAt"]
    return out


def install_proxy_routes(app: Quart, config: ProxyConfig, *, ready: Callable[[], bool]) -> None:
    """Add ``GET /proxy/alerts`` and ``GET /proxy/targets`` to the gateway ``app``.

    ``ready``: the gateway's own readiness, its health in ``/proxy/targets``.
    """

    @app.get("/proxy/alerts")
    @operation(
        "proxyAlerts",
        summary="Compatibility: active alerts as Alertmanager's `GET /api/v2/alerts` lists them.",
        description=(
            "For clients of the system this one replaces. Forwarded to Alertmanager when "
            "`OBSERVATORY_ALERTMANAGER_URL` is set (its query string too); otherwise the read "
            "model's active alerts (`GET /alerts`) in Alertmanager's shape."
        ),
        tags=_TAGS,
        responses={
            200: json_response("The alerts.", _ALERTMANAGER_ALERTS),
            502: _UNREACHABLE,
            504: _TIMED_OUT,
        },
    )
    async def proxy_alerts() -> Response | tuple[Response, int]:
        try:
            if config.alertmanager_url:
                return await _relay(config.alertmanager_url, "/api/v2/alerts", config.timeout_s)
            base = config.read_model_url()
            headers = {}
            if authorization := request.headers.get("Authorization"):
                headers["Authorization"] = authorization
            answer = await _get(f"{base}/alerts", timeout_s=config.timeout_s, headers=headers)
            if answer.status_code != 200:
                raise _Upstream(
                    502, f"The read model ({base}/alerts) answered {answer.status_code}."
                )
            active = answer.json().get("active", [])
        except _Upstream as exc:
            log.warning("proxy.failed route=/proxy/alerts status=%d error=%s", exc.status, exc)
            return json_error(exc.status, str(exc))
        return jsonify([_as_alertmanager(alert) for alert in active])

    async def _target(job: str, base: str | None) -> dict[str, object]:
        started = time.perf_counter()
        health, error = "up", ""
        if base is None:
            base = request.host_url.rstrip("/")
            if not ready():
                health, error = "down", "The gateway cannot accept jobs (its /healthz is 503)."
        else:
            try:
                answer = await _get(f"{base}/healthz", timeout_s=config.timeout_s)
                if answer.status_code != 200:
                    health, error = "down", f"{base}/healthz answered {answer.status_code}."
            except _Upstream as exc:
                health, error = "down", str(exc)
        return {
            "discoveredLabels": {"__address__": base.split("://", 1)[-1]},
            "labels": {"job": job, "instance": base.split("://", 1)[-1]},
            "scrapePool": job,
            "scrapeUrl": f"{base}/metrics",
            "globalUrl": f"{base}/metrics",
            "lastError": error,
            "lastScrape": utc_now(),
            "lastScrapeDuration": round(time.perf_counter() - started, 6),
            "health": health,
            "scrapeInterval": "15s",
            "scrapeTimeout": f"{config.timeout_s:g}s",
        }

    @app.get("/proxy/targets")
    @operation(
        "proxyTargets",
        summary="Compatibility: scrape targets as Prometheus' `GET /api/v1/targets` lists them.",
        description=(
            "For clients of the system this one replaces. Forwarded to Prometheus when "
            "`OBSERVATORY_PROMETHEUS_URL` is set (its query string too); otherwise the "
            "services this observatory knows (the gateway, the read model, and the processor "
            "and metrics engine when `OBSERVATORY_PROCESSOR_URL` / "
            "`OBSERVATORY_METRICS_ENGINE_URL` name them), each with its health from its "
            "`/healthz`."
        ),
        tags=_TAGS,
        responses={
            200: json_response("The targets.", _PROMETHEUS_TARGETS),
            502: _UNREACHABLE,
            504: _TIMED_OUT,
        },
    )
    async def proxy_targets() -> Response | tuple[Response, int]:
        if config.prometheus_url:
            try:
                return await _relay(config.prometheus_url, "/api/v1/targets", config.timeout_s)
            except _Upstream as exc:
                log.warning("proxy.failed route=/proxy/targets status=%d error=%s", exc.status, exc)
                return json_error(exc.status, str(exc))
        known: list[tuple[str, str | None]] = [
            ("gateway", None),
            ("read-model", config.read_model_url()),
            *config.services.items(),
        ]
        targets: list[dict[str, object]] = [{} for _ in known]

        async def probe(index: int, job: str, base: str | None) -> None:
            targets[index] = await _target(job, base)

        async with anyio.create_task_group() as tg:
            for index, (job, base) in enumerate(known):
                tg.start_soon(probe, index, job, base)
        return jsonify(
            {"status": "success", "data": {"activeTargets": targets, "droppedTargets": []}}
        )
