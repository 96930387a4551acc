"""Alerts the read model knows: from Alertmanager's webhook, or evaluated locally.

An :class:`AlertBook` keeps the active alerts by fingerprint and the most recently
resolved ones; ``GET /alerts`` reads it, so the web page and the TUI ask the read model
only, never Prometheus.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from actors.domain.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Alert", "AlertBook"]

MAX_RESOLVED = 100
"""Resolved alerts kept for display, newest first."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, as ``GET /alerts`` lists it."""

    fingerprint: str
    name: str
    status: str
    """``firing`` or ``resolved``."""
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str | None = None
    updated_at: str = ""
    source: str = "alertmanager"
    """``alertmanager`` (webhook) or ``read-model`` (evaluated here, without Prometheus)."""

    @property
    def severity(self) -> str:
        """The ``severity`` label, or ``none``."""
        return self.labels.get("severity", "none")

    def to_json(self) -> dict[str, object]:
        """The ``alerts.json`` entry."""
        return {
            "fingerprint": self.fingerprint,
            "name": self.name,
            "status": self.status,
            "severity": self.severity,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "updatedAt": self.updated_at,
            "source": self.source,
        }

    @classmethod
    def from_webhook(cls, alert: Mapping[str, object]) -> Alert:
        """An alert of an Alertmanager webhook payload (already valid against its schema)."""
        labels = alert["labels"]
        annotations = alert.get("annotations") or {}
        assert isinstance(labels, dict)
        assert isinstance(annotations, dict)
        ends_at = alert.get("endsAt")
        # Alertmanager sends the zero time for alerts that have not ended.
        if not isinstance(ends_at, str) or ends_at.startswith("0001-"):
            ends_at = None
        return cls(
            fingerprint=str(alert["fingerprint"]),
            name=str(labels["alertname"]),
            status=str(alert["status"]),
            labels={str(k): str(v) for k, v in labels.items()},
            annotations={str(k): str(v) for k, v in annotations.items()},
            starts_at=str(alert["startsAt"]),
            ends_at=ends_at,
            updated_at=utc_now(),
        )


class AlertBook:
    """Active alerts by fingerprint, and the last :data:`MAX_RESOLVED` resolved ones."""

    def __init__(self) -> None:
        self._active: dict[str, Alert] = {}
        self._resolved: OrderedDict[str, Alert] = OrderedDict()

    def __repr__(self) -> str:
        return f"<AlertBook active={len(self._active)} resolved={len(self._resolved)}>"

    def record(self, alert: Alert) -> None:
        """Apply one alert's current state (firing replaces, resolved moves it aside)."""
        if alert.status == "firing":
            self._resolved.pop(alert.fingerprint, None)
            self._active[alert.fingerprint] = alert
            return
        previous = self._active.pop(alert.fingerprint, None)
        resolved = (
            alert
            if previous is None
            else replace(
                previous,
                status="resolved",
                ends_at=alert.ends_at or utc_now(),
                updated_at=alert.updated_at,
            )
        )
        self._resolved[alert.fingerprint] = resolved
        self._resolved.move_to_end(alert.fingerprint, last=False)
        while len(self._resolved) > MAX_RESOLVED:
            self._resolved.popitem(last=True)

    def active(self) -> list[Alert]:
        """Firing alerts, critical first, then by start time."""
        return sorted(
            self._active.values(),
            key=lambda a: (a.severity != "critical", a.starts_at, a.name),
        )

    def resolved(self) -> list[Alert]:
        """Resolved alerts, most recent first."""
        return list(self._resolved.values())

    def to_json(self) -> dict[str, object]:
        """The ``GET /alerts`` document."""
        return {
            "active": [a.to_json() for a in self.active()],
            "resolved": [a.to_json() for a in self.resolved()],
        }
