"""Errors shared by every part of the observatory.

Callers choose the level they catch. The tree, split by who is at fault::

    ObservatoryError                 root of everything we raise on purpose
    ├── ConfigError                  the operator's settings are wrong (fix them, restart)
    ├── DependencyUnavailable        the outside world is away; retry with backoff
    │   ├── BrokerUnavailable        the message broker cannot be reached
    │   └── StoreUnavailable         a job, event or counter store cannot be reached
    ├── InvalidMessage               a message or request breaks a contract; never retried
    ├── JobFailed                    the user's job handler raised or timed out
    │   └── NonRetryable             the handler says no retry can help: fail at once
    └── SupervisorGaveUp             a child crashed more often than its supervisor allows

``ObservatoryError``, ``ConfigError``, ``InvalidMessage`` and ``ValidationIssue`` are
defined in :mod:`contracts.errors` (the bottom layer) and re-exported here.

Third-party exceptions (asyncpg, coredis, pymongo, aiormq, sqlite3) are translated at the
adapter boundary and chained with ``raise ... from exc``; they never leak further.
"""

from __future__ import annotations

from contracts.errors import ConfigError, InvalidMessage, ObservatoryError, ValidationIssue

__all__ = [
    "BrokerUnavailable",
    "ConfigError",
    "DependencyUnavailable",
    "InvalidMessage",
    "JobFailed",
    "NonRetryable",
    "ObservatoryError",
    "StoreUnavailable",
    "SupervisorGaveUp",
    "ValidationIssue",
]


class DependencyUnavailable(ObservatoryError):
    """A server we depend on cannot be reached right now. Retryable."""


class BrokerUnavailable(DependencyUnavailable):
    """The message broker cannot be reached or refused an operation. Retryable."""


class StoreUnavailable(DependencyUnavailable):
    """A job store, event store or counter store cannot be reached. Retryable."""


class CountersLost(Exception):
    """The counters' server lost them (Redis restarted without persistence).

    Nothing was counted; rebuild the counters from the event store, then count again.
    """


class JobFailed(ObservatoryError):
    """A job's handler raised, returned something unstorable, or ran past its timeout."""


class NonRetryable(JobFailed):
    """Raised by a handler: the job fails now, with no further attempts.

    For errors no retry can fix (a malformed input, a missing record). The job's error
    reads ``NonRetryable: <message>`` and the processor counts it in
    ``processor_jobs_non_retryable_total``::

        raise NonRetryable(f"Image {url} is not a PNG.")
    """


class SupervisorGaveUp(ObservatoryError):
    """A child restarted more than ``intensity`` times within ``period_s``.

    The supervisor cancelled its other children and raised this from the last error so
    that its own parent decides what happens next.
    """

    def __init__(self, child_id: str, restarts: int, period_s: float) -> None:
        super().__init__(
            f"Child {child_id!r} crashed {restarts} times within {period_s:g} s; "
            "the supervisor gave up and stopped its children."
        )
        self.child_id = child_id
        self.restarts = restarts
        self.period_s = period_s
