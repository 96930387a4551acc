"""Supervisors: run children in a task group and restart them the OTP way."""

from __future__ import annotations

import enum
import logging
import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import anyio

from actors.errors import ConfigError, SupervisorGaveUp
from actors.kernel._health import ActorHealth, ActorState, describe_error
from actors.observability.logs import ACTOR

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from anyio.abc import TaskGroup, TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["ChildExited", "ChildSpec", "Restart", "Strategy", "Supervisor", "SupervisorStatistics"]

logger = logging.getLogger(__name__)

_CLEANUP_S = 5.0
"""Upper bound for cleanup that awaits, shielded from cancellation."""


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them crashes (OTP)."""

    ONE_FOR_ONE = enum.auto()
    """Restart only the child that crashed."""
    ONE_FOR_ALL = enum.auto()
    """Stop every other child (in reverse order), then restart all of them (in order)."""
    REST_FOR_ONE = enum.auto()
    """Stop the children started after the crashed one, then restart it and them."""


class Restart(enum.Enum):
    """When a child that ended is started again (OTP)."""

    PERMANENT = enum.auto()
    """Always restarted, even after a normal return."""
    TRANSIENT = enum.auto()
    """Restarted only after it raised; a normal return ends it."""
    TEMPORARY = enum.auto()
    """Never restarted; removed from the supervisor once it ends."""


class _Supervisable(Protocol):
    """What ``ChildSpec.of`` needs: an actor or a supervisor."""

    @property
    def name(self) -> str: ...

    async def run(self, *, task_status: TaskStatus[None] = ...) -> None: ...

    def request_stop(self) -> None: ...

    def health(self) -> list[ActorHealth]: ...


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor runs, stops and restarts one child.

    Examples:
        ==========================================================  ======================
        spec                                                         meaning
        ==========================================================  ======================
        ``ChildSpec.of(writer)``                                     an actor, restarted
                                                                     always, 5 s to stop
        ``ChildSpec.of(ingress_supervisor)``                         a nested tree; its
                                                                     stop waits for it
        ``ChildSpec("tick", ticker, restart=Restart.TRANSIENT)``     a plain task function
        ==========================================================  ======================
    """

    id: str
    """Unique among its siblings; the last part of its health path and log lines."""
    run: Callable[..., Awaitable[object]]
    """Called as ``await run(task_status=...)``; calls ``task_status.started()`` when ready."""
    restart: Restart = Restart.PERMANENT
    """When it is restarted after it ends."""
    shutdown_s: float = 5.0
    """How long a graceful stop may take before the child is cancelled."""
    stop: Callable[[], object] | None = None
    """Asks the child to stop gracefully (e.g. ``actor.request_stop``); without it, a stop
    cancels the child at once."""
    health: Callable[[], list[ActorHealth]] | None = None
    """The child's own health entries (an actor's, or a nested supervisor's)."""

    @classmethod
    def of(
        cls,
        actor_or_supervisor: _Supervisable,
        *,
        id: str | None = None,
        restart: Restart = Restart.PERMANENT,
        shutdown_s: float | None = None,
    ) -> ChildSpec:
        """Build the spec of an actor or a nested supervisor.

        Args:
            actor_or_supervisor: supplies ``run``, ``request_stop`` and ``health``.
            id: the child id; defaults to its ``name``.
            restart: when it is restarted.
            shutdown_s: how long a graceful stop may take. Defaults to 5 s for an actor
                and to no limit for a supervisor, whose stop waits for its whole subtree
                (each of its children is bounded by its own ``shutdown_s``), as in OTP.
        """
        if shutdown_s is None:
            shutdown_s = math.inf if isinstance(actor_or_supervisor, Supervisor) else 5.0
        return cls(
            id=actor_or_supervisor.name if id is None else id,
            run=actor_or_supervisor.run,
            restart=restart,
            shutdown_s=shutdown_s,
            stop=actor_or_supervisor.request_stop,
            health=actor_or_supervisor.health,
        )


@dataclass(frozen=True, slots=True)
class ChildExited:
    """A child's wrapper reports that the child ended on its own."""

    id: str
    """The child's id."""
    generation: int
    """Which start of the child ended (reports of an older start are ignored)."""
    error: Exception | None
    """What it raised, or ``None`` after a normal return."""


@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    """A snapshot of a supervisor's counters, for debugging and metrics."""

    name: str
    """The supervisor's name."""
    state: ActorState
    """The supervisor's lifecycle state."""
    restarts_in_window: int
    """Restarts within the last ``period_s`` (more than ``intensity`` means giving up)."""
    total_restarts: int
    """Restarts of all its children, all time."""
    children: tuple[str, ...]
    """Ids of its current children, in start order."""


class _StopRequested:
    """Wakes the supervisor's loop after ``request_stop()``."""


_STOP = _StopRequested()


@dataclass(eq=False)
class _Incarnation:
    """One start of a child: its cancel scope and whether it has ended."""

    generation: int
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)
    stopping: bool = False
    """Set by the supervisor before it stops the child, so its end is not reported."""


@dataclass(eq=False)
class _Child:
    """The supervisor's bookkeeping for one child."""

    spec: ChildSpec
    backoff_s: float
    state: ActorState = ActorState.STARTING
    restarts: int = 0
    last_error: str | None = None
    started_at: float | None = None
    generation: int = 0
    current: _Incarnation | None = None

    def is_running(self) -> bool:
        return self.current is not None and not self.current.done.is_set()


def _caused_by_config(error: BaseException | None) -> bool:
    """Whether ``error`` or anything it was raised from is a :class:`ConfigError`.

    A wrong setting (a port in use, a bad URL) does not heal by restarting: the
    supervisor gives up at once so the operator sees the cause instead of a restart loop.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ConfigError):
            return True
        seen.add(id(error))
        error = error.__cause__
    return False


class _GaveUp(Exception):
    """Internal: the intensity was exceeded and every child has been stopped."""

    def __init__(self, child_id: str, restarts: int, error: Exception) -> None:
        super().__init__(child_id)
        self.child_id = child_id
        self.restarts = restarts
        self.error = error


class _StartedRelay:
    """Passes ``started()`` on to the wrapper's task status, noting that it happened."""

    def __init__(self, outer: TaskStatus[None], on_started: Callable[[], None]) -> None:
        self._outer = outer
        self._on_started = on_started
        self.called = False

    def started(self, value: object = None) -> None:
        self.called = True
        self._on_started()
        self._outer.started()


class Supervisor:
    """Runs children in order, restarts the ones that crash, gives up past its intensity.

    Semantics follow OTP: the ``strategy`` decides which children restart together, each
    child's ``restart`` decides whether it restarts at all, and more than ``intensity``
    restarts within ``period_s`` make the supervisor stop every child and raise
    ``SupervisorGaveUp`` for its own parent to handle. Between restarts it waits an
    exponential backoff per child (``backoff_initial_s`` doubling up to
    ``backoff_max_s``; back to the start once the child has stayed up for ``period_s``).

    Error handling:
        Each child runs in a wrapper task with its own cancel scope. The wrapper catches
        ``Exception`` and reports ``ChildExited`` to the supervisor's bounded inbox, so a
        crash never reaches the shared task group. A child that raises before calling
        ``task_status.started()`` failed to start; that counts as a crash too.

    Cancellation:
        Being cancelled is not a failure: cancelling ``run()`` cancels every child at
        once; nothing is restarted or counted. For a graceful stop use
        ``request_stop()``.

    Args:
        name: the supervisor's name, the first part of its children's health paths.
        children: the child specs, in start order; ids must be unique.
        strategy: which children restart together.
        intensity: how many restarts within ``period_s`` are tolerated.
        period_s: the sliding window of the intensity, in seconds of ``now()``.
        backoff_initial_s: the first delay before restarting a child.
        backoff_max_s: the longest delay before restarting a child.
        now: the clock of the intensity window and of uptimes.

    Raises:
        ValueError: duplicate child ids, or a negative limit.
    """

    def __init__(
        self,
        name: str,
        children: Sequence[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: int = 3,
        period_s: float = 5.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
        now: Callable[[], float] = anyio.current_time,
    ) -> None:
        ids = [spec.id for spec in children]
        duplicates = sorted({child_id for child_id in ids if ids.count(child_id) > 1})
        if duplicates:
            raise ValueError(f"Supervisor {name!r} has duplicate child ids: {duplicates}.")
        if intensity < 0 or period_s <= 0:
            raise ValueError(
                f"Supervisor {name!r} needs intensity >= 0 and period_s > 0, "
                f"got intensity={intensity} and period_s={period_s:g}."
            )
        if backoff_initial_s < 0 or backoff_max_s < backoff_initial_s:
            raise ValueError(
                f"Supervisor {name!r} needs 0 <= backoff_initial_s <= backoff_max_s, "
                f"got {backoff_initial_s:g} and {backoff_max_s:g}."
            )
        self.name: str = name
        """The supervisor's name, the first part of its children's health paths."""
        self._strategy = strategy
        self._intensity = intensity
        self._period_s = period_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._now = now
        self._children = [_Child(spec, backoff_s=backoff_initial_s) for spec in children]
        self._state = ActorState.STARTING
        self._restart_times: deque[float] = deque()
        self._total_restarts = 0
        self._last_error: str | None = None
        self._inbox: MemoryObjectSendStream[ChildExited | _StopRequested] | None = None
        self._stop_requested = False
        self._stop_event: anyio.Event | None = None

    # -- public ------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start the children in order, then supervise them until stopped or giving up.

        Each child starts only once the previous one is ready; ``task_status.started()``
        is called once all are. After ``request_stop()`` the children are stopped in
        reverse order and ``run()`` returns.

        Raises:
            SupervisorGaveUp: more than ``intensity`` restarts within ``period_s``
                (also when children cannot be started); chained from the last error.
                Every child has been stopped by then.
            RuntimeError: the supervisor is already running.
        """
        if self._inbox is not None:
            raise RuntimeError(
                f"Supervisor {self.name!r} is already running; run it once at a time."
            )
        # A new run is a new supervisor process (OTP): a fresh intensity window.
        self._restart_times.clear()
        self._stop_requested = False
        self._stop_event = anyio.Event()
        self._state = ActorState.STARTING
        for child in self._children:
            child.backoff_s = self._backoff_initial_s
        # One report per running child plus a stop request; a wrapper reporting into a
        # full inbox waits, which is harmless because nobody waits for that wrapper.
        inbox_send, inbox_receive = anyio.create_memory_object_stream[ChildExited | _StopRequested](
            len(self._children) + 1
        )
        self._inbox = inbox_send
        gave_up: _GaveUp | None = None
        try:
            with inbox_send, inbox_receive:
                async with anyio.create_task_group() as tg:
                    try:
                        for child in list(self._children):
                            if self._stop_requested:
                                break
                            await self._start_child(tg, child)
                        self._state = ActorState.RUNNING
                        task_status.started()
                        await self._supervise(tg, inbox_receive)
                        self._state = ActorState.STOPPING
                        await self._stop_children(self._children)
                        self._state = ActorState.STOPPED
                    except _GaveUp as exc:
                        gave_up = exc
                    finally:
                        # Wrappers still reporting see BrokenResourceError and end.
                        inbox_receive.close()
        except anyio.get_cancelled_exc_class():
            self._state = ActorState.STOPPED
            raise
        finally:
            self._inbox = None
            self._stop_event = None
            for child in self._children:
                if child.state is not ActorState.FAILED:
                    child.state = ActorState.STOPPED
        if gave_up is not None:
            raise SupervisorGaveUp(
                gave_up.child_id, gave_up.restarts, self._period_s
            ) from gave_up.error

    def request_stop(self) -> None:
        """Ask the supervisor to stop its children (in reverse order) and return.

        Only affects a running supervisor; calling it again does nothing.
        """
        if self._inbox is None or self._stop_requested:
            return
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()
        if self._state is ActorState.STARTING:
            # A child still starting (waiting for a server, say) is abandoned: the start
            # sequence ends there and what did start is stopped in reverse order.
            for child in self._children:
                if child.state is ActorState.STARTING and child.current is not None:
                    child.current.scope.cancel()
        try:
            self._inbox.send_nowait(_STOP)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the loop checks the flag after every report it handles

    def health(self) -> list[ActorHealth]:
        """Return its own entry, then every child's entries, paths prefixed ``name/``.

        A child without a ``health`` callable gets one entry from the supervisor's
        bookkeeping. A child with one keeps its entries, but the first one takes the
        restart count, the RESTARTING state and the last error from the supervisor,
        which knows them where the child cannot.
        """
        entries = [
            ActorHealth(path=self.name, state=self._state, restarts=0, last_error=self._last_error)
        ]
        for child in self._children:
            own = list(child.spec.health()) if child.spec.health is not None else []
            if own:
                first = own[0]
                own[0] = replace(
                    first,
                    restarts=child.restarts,
                    state=(child.state if child.state is ActorState.RESTARTING else first.state),
                    last_error=child.last_error or first.last_error,
                )
            else:
                own = [
                    ActorHealth(
                        path=child.spec.id,
                        state=child.state,
                        restarts=child.restarts,
                        last_error=child.last_error,
                    )
                ]
            entries.extend(replace(entry, path=f"{self.name}/{entry.path}") for entry in own)
        return entries

    def statistics(self) -> SupervisorStatistics:
        """Return a snapshot of the supervisor's counters."""
        return SupervisorStatistics(
            name=self.name,
            state=self._state,
            restarts_in_window=self._restarts_in_window(),
            total_restarts=self._total_restarts,
            children=tuple(child.spec.id for child in self._children),
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} state={self._state.name.lower()} "
            f"strategy={self._strategy.name.lower()} children={len(self._children)} "
            f"restarts={self._total_restarts}>"
        )

    # -- supervising -------------------------------------------------------------------

    async def _supervise(
        self, tg: TaskGroup, inbox: MemoryObjectReceiveStream[ChildExited | _StopRequested]
    ) -> None:
        """Handle child exits until a stop is requested."""
        while not self._stop_requested:
            report = await inbox.receive()
            if not isinstance(report, ChildExited):
                continue
            child = self._find_current(report)
            if child is not None:
                await self._handle_exit(tg, child, report.error)

    def _find_current(self, report: ChildExited) -> _Child | None:
        """Return the child the report is about, or ``None`` for an outdated report."""
        for child in self._children:
            if child.spec.id == report.id:
                current = child.current
                if current is None or current.stopping or child.generation != report.generation:
                    return None
                return child
        return None

    async def _handle_exit(self, tg: TaskGroup, child: _Child, error: Exception | None) -> None:
        """Apply the restart policy and the strategy after ``child`` ended on its own."""
        uptime_s = None if child.started_at is None else self._now() - child.started_at
        child.started_at = None
        if error is not None:
            child.last_error = describe_error(error)
        restart = child.spec.restart is Restart.PERMANENT or (
            child.spec.restart is Restart.TRANSIENT and error is not None
        )
        if not restart:
            child.state = ActorState.STOPPED if error is None else ActorState.FAILED
            if child.spec.restart is Restart.TEMPORARY:
                self._children.remove(child)
            logger.log(
                logging.INFO if error is None else logging.WARNING,
                "actor.exited child=%s supervisor=%s restart=%s error=%r",
                child.spec.id,
                self.name,
                child.spec.restart.name.lower(),
                error,
            )
            return
        if uptime_s is not None and uptime_s >= self._period_s:
            child.backoff_s = self._backoff_initial_s
        await self._count_restart(child, error)

        index = self._children.index(child)
        if self._strategy is Strategy.ONE_FOR_ONE:
            affected = [child]
        elif self._strategy is Strategy.ONE_FOR_ALL:
            affected = list(self._children)
        else:
            affected = self._children[index:]
        # Restart the crashed child and the affected siblings that were still running;
        # a sibling that ended on its own has its own report waiting in the inbox.
        siblings = [c for c in affected if c is not child and c.is_running()]
        await self._stop_children(siblings)
        for sibling in siblings:
            if sibling.spec.restart is Restart.TEMPORARY:
                self._children.remove(sibling)  # stopped, never restarted
            else:
                sibling.state = ActorState.RESTARTING
        child.state = ActorState.RESTARTING
        to_restart = [c for c in affected if c is child or (c in siblings and c in self._children)]

        if not await self._backoff(child):
            return
        for sibling in to_restart:
            if sibling is not child:
                sibling.restarts += 1
            await self._start_child(tg, sibling)

    async def _start_child(self, tg: TaskGroup, child: _Child) -> None:
        """Start ``child`` and wait until it is ready, retrying startup failures.

        Raises:
            _GaveUp: the startup failures exceeded the intensity.
        """
        while not self._stop_requested:
            child.generation += 1
            incarnation = _Incarnation(child.generation)
            child.current = incarnation
            child.state = ActorState.STARTING
            try:
                await tg.start(self._run_child, child, incarnation)
            except Exception as exc:
                if self._stop_requested:
                    child.state = ActorState.STOPPED
                    return
                child.last_error = describe_error(exc)
                if child.spec.restart is Restart.TEMPORARY:
                    child.state = ActorState.FAILED
                    self._children.remove(child)
                    logger.warning(
                        "actor.start_failed child=%s supervisor=%s restart=temporary error=%r",
                        child.spec.id,
                        self.name,
                        exc,
                        exc_info=exc,
                    )
                    return
                child.state = ActorState.RESTARTING
                await self._count_restart(child, exc)
                if not await self._backoff(child):
                    break
                continue
            return
        child.state = ActorState.STOPPED

    async def _run_child(
        self,
        child: _Child,
        incarnation: _Incarnation,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """The wrapper task of one start of a child.

        An error before ``started()`` propagates to ``_start_child`` (through
        ``tg.start``); after it, the error is reported to the inbox instead.
        """

        def on_started() -> None:
            child.state = ActorState.RUNNING
            child.started_at = self._now()

        relay = _StartedRelay(task_status, on_started)
        error: Exception | None = None
        # Every log line of the child carries its path ("processor/executor"); a nested
        # supervisor's children extend the path it runs under.
        parent = ACTOR.get()
        path = f"{parent}/{child.spec.id}" if parent != "-" else f"{self.name}/{child.spec.id}"
        token = ACTOR.set(path)
        try:
            with incarnation.scope:
                try:
                    await child.spec.run(task_status=relay)
                except Exception as exc:
                    if not relay.called:
                        raise
                    error = exc
        finally:
            ACTOR.reset(token)
            incarnation.done.set()
        if not relay.called:
            return  # it returned without starting: tg.start raises RuntimeError for it
        if incarnation.stopping:
            if error is not None:
                child.last_error = describe_error(error)
                logger.error(
                    "actor.stop_failed child=%s supervisor=%s error=%r",
                    child.spec.id,
                    self.name,
                    error,
                    exc_info=error,
                )
            return
        inbox = self._inbox
        if inbox is None:
            return
        child.state = ActorState.FAILED if error is not None else ActorState.STOPPED
        try:
            await inbox.send(ChildExited(child.spec.id, incarnation.generation, error))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the supervisor has finished; there is nobody left to tell

    async def _count_restart(self, child: _Child, error: Exception | None) -> None:
        """Count a restart of ``child`` against the intensity; give up past it.

        Raises:
            _GaveUp: more than ``intensity`` restarts within ``period_s``; every child
                has been stopped.
        """
        now = self._now()
        self._restart_times.append(now)
        in_window = self._restarts_in_window(now)
        if in_window > self._intensity or _caused_by_config(error):
            last_error = error if error is not None else _ReturnedNormally(child.spec.id)
            child.state = ActorState.FAILED
            self._state = ActorState.FAILED
            self._last_error = describe_error(last_error)
            logger.error(
                "supervisor.gave_up supervisor=%s child=%s restarts_in_window=%d "
                "intensity=%d period_s=%g error=%r",
                self.name,
                child.spec.id,
                in_window,
                self._intensity,
                self._period_s,
                last_error,
            )
            await self._stop_children(self._children)
            raise _GaveUp(child.spec.id, in_window, last_error)
        child.restarts += 1
        self._total_restarts += 1
        logger.warning(
            "actor.restarted child=%s supervisor=%s strategy=%s restarts_in_window=%d error=%r",
            child.spec.id,
            self.name,
            self._strategy.name.lower(),
            in_window,
            error,
            exc_info=error,
        )

    def _restarts_in_window(self, now: float | None = None) -> int:
        """Drop restarts older than ``period_s`` and return how many remain."""
        if now is None:
            now = self._now()
        while self._restart_times and self._restart_times[0] <= now - self._period_s:
            self._restart_times.popleft()
        return len(self._restart_times)

    async def _backoff(self, child: _Child) -> bool:
        """Wait before restarting ``child``; return ``False`` if a stop came meanwhile."""
        delay_s = child.backoff_s
        child.backoff_s = min(delay_s * 2, self._backoff_max_s)
        if self._stop_event is not None:
            with anyio.move_on_after(delay_s):
                await self._stop_event.wait()
        return not self._stop_requested

    async def _stop_children(self, children: Sequence[_Child]) -> None:
        """Stop ``children`` gracefully, in reverse order."""
        for child in reversed(list(children)):
            await self._stop_child(child)

    async def _stop_child(self, child: _Child) -> None:
        """Ask ``child`` to stop, wait up to its ``shutdown_s``, then cancel it.

        A child cancelled after its ``shutdown_s`` is logged ``actor.killed`` at WARNING
        when the stop was forced on it (a sibling crashed, the supervisor gave up); in a
        planned stop (:meth:`request_stop`) the cancel is part of the plan (its work
        goes back to the broker unacknowledged) and is logged ``actor.stop_cancelled``
        at INFO.
        """
        incarnation = child.current
        if incarnation is None or incarnation.done.is_set():
            return
        incarnation.stopping = True
        child.state = ActorState.STOPPING
        if child.spec.stop is not None:
            try:
                child.spec.stop()
            except Exception as exc:
                logger.warning(
                    "actor.stop_failed child=%s supervisor=%s error=%r",
                    child.spec.id,
                    self.name,
                    exc,
                    exc_info=exc,
                )
            with anyio.move_on_after(child.spec.shutdown_s):
                await incarnation.done.wait()
        if not incarnation.done.is_set():
            if child.spec.stop is not None:
                if self._stop_requested:
                    logger.info(
                        "actor.stop_cancelled child=%s supervisor=%s shutdown_s=%g: "
                        "planned stop; what it held goes back unacknowledged",
                        child.spec.id,
                        self.name,
                        child.spec.shutdown_s,
                    )
                else:
                    logger.warning(
                        "actor.killed child=%s supervisor=%s shutdown_s=%g",
                        child.spec.id,
                        self.name,
                        child.spec.shutdown_s,
                    )
            incarnation.scope.cancel()
            await incarnation.done.wait()
        child.state = ActorState.STOPPED


class _ReturnedNormally(Exception):
    """A permanent child returned without an error more often than the intensity allows."""

    def __init__(self, child_id: str) -> None:
        super().__init__(f"Child {child_id!r} returned; permanent children must keep running.")
