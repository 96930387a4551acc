"""The actor: private state, a bounded mailbox, one message (or one batch) at a time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

from actors.kernel._health import ActorHealth, ActorState, describe_error

if TYPE_CHECKING:
    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["Actor", "ActorStatistics"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CLEANUP_S = 5.0
"""Upper bound for cleanup that awaits (``on_close``), shielded from cancellation."""


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """A snapshot of an actor's counters, for debugging and metrics."""

    name: str
    """The actor's name."""
    state: ActorState
    """The lifecycle state."""
    mailbox_depth: int
    """Messages waiting in the mailbox."""
    mailbox_size: int
    """Capacity of the mailbox."""
    messages_handled: int
    """Messages handled successfully, all runs together."""
    batches_handled: int
    """Batches handled successfully (``handle_batch`` calls that returned)."""


class Actor(Generic[T]):
    """Base class: private state, a bounded mailbox, one message at a time (or a batch).

    Subclasses override ``handle`` (or ``handle_batch``) and, where needed, the
    ``on_start`` / ``on_stop`` / ``on_close`` hooks. Other actors talk to it only through
    ``send`` / ``send_nowait``.

    Resource handling:
        ``run()`` creates a fresh mailbox each time it is called, so a restarted actor
        starts with an empty mailbox (as in OTP); messages still queued when a run
        crashes or is cancelled are dropped and their number is logged at WARNING.
        Between runs (before the first one, or after a crash until the supervisor
        restarts the actor) there is no mailbox: ``send()`` waits for the next run, which
        is the backpressure a crashed consumer puts on its producers.
        ``on_close()`` always runs when ``run()`` ends, for releasing resources.

    Cancellation:
        Cancelling ``run()`` drops the queued messages, skips ``on_stop()``, runs
        ``on_close()`` in a bounded shield, and leaves the actor STOPPED and closed to
        new messages until it is run again.

    Args:
        name: the actor's name, as it appears in logs and health paths.
        mailbox_size: how many messages may wait in the mailbox (0: a sender waits
            until the actor takes its message).
        max_batch: the most messages handed to ``handle_batch`` at once.

    Raises:
        ValueError: ``mailbox_size`` is negative or ``max_batch`` is below 1.
    """

    def __init__(self, name: str, *, mailbox_size: int, max_batch: int = 1) -> None:
        if mailbox_size < 0:
            raise ValueError(f"Actor {name!r} needs mailbox_size >= 0, got {mailbox_size}.")
        if max_batch < 1:
            raise ValueError(f"Actor {name!r} needs max_batch >= 1, got {max_batch}.")
        self.name: str = name
        """The actor's name, as it appears in logs and health paths."""
        self._mailbox_size = mailbox_size
        self._max_batch = max_batch
        self._state = ActorState.STARTING
        self._send_stream: MemoryObjectSendStream[T] | None = None
        self._receive_stream: MemoryObjectReceiveStream[T] | None = None
        self._closed = False
        self._mailbox_changed: anyio.Event | None = None
        self._messages_handled = 0
        self._batches_handled = 0
        self._last_error: str | None = None

    # -- sending -----------------------------------------------------------------------

    async def send(self, message: T) -> None:
        """Put ``message`` in the mailbox, waiting while it is full (backpressure).

        Between runs (before the first run, or after a crash) this waits for the next
        run. Callers bound the wait with ``anyio.fail_after``.

        Raises:
            anyio.ClosedResourceError: the actor is stopping or stopped.
        """
        while True:
            if self._closed:
                raise self._closed_error()
            stream = self._send_stream
            if stream is None:
                if self._mailbox_changed is None:
                    self._mailbox_changed = anyio.Event()
                await self._mailbox_changed.wait()
                continue
            try:
                await stream.send(message)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                # The mailbox was closed under us: either the actor is stopping (the loop
                # raises) or its run ended and the message waits for the next run.
                if stream is self._send_stream and not self._closed:
                    raise
                continue
            return

    def send_nowait(self, message: T) -> None:
        """Put ``message`` in the mailbox if there is room right now.

        Raises:
            anyio.WouldBlock: the mailbox is full, or the actor is between runs.
            anyio.ClosedResourceError: the actor is stopping or stopped.
        """
        if self._closed:
            raise self._closed_error()
        if self._send_stream is None:
            raise anyio.WouldBlock
        self._send_stream.send_nowait(message)

    def request_stop(self) -> None:
        """Ask the actor to stop gracefully.

        It accepts no new messages from now on (senders waiting for room get
        ``ClosedResourceError``), handles what is already queued, awaits ``on_stop()``
        and then ``run()`` returns. Calling it again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        if self._send_stream is not None:
            if self._state in (ActorState.STARTING, ActorState.RUNNING):
                self._state = ActorState.STOPPING
            self._send_stream.close()
        self._notify_mailbox_changed()

    # -- running -----------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the actor until it is asked to stop.

        Opens a fresh mailbox, awaits ``on_start()``, reports readiness through
        ``task_status``, then hands queued messages to ``handle_batch`` (up to
        ``max_batch`` at a time) until ``request_stop()`` has been called and the mailbox
        is drained; then awaits ``on_stop()`` and returns.

        Raises:
            RuntimeError: the actor is already running.
            Exception: whatever a hook or handler raised (the actor crashed).
        """
        if self._receive_stream is not None:
            raise RuntimeError(f"Actor {self.name!r} is already running; run it once at a time.")
        send_stream, receive_stream = anyio.create_memory_object_stream[T](self._mailbox_size)
        self._send_stream, self._receive_stream = send_stream, receive_stream
        self._closed = False
        self._state = ActorState.STARTING
        self._notify_mailbox_changed()
        failure: BaseException | None = None
        try:
            await self.on_start()
            if self._state is ActorState.STARTING:
                self._state = ActorState.RUNNING
            task_status.started()
            await self._handle_until_stopped(receive_stream)
            await self.on_stop()
            self._state = ActorState.STOPPED
        except anyio.get_cancelled_exc_class() as exc:
            failure = exc
            self._state = ActorState.STOPPED
            self._closed = True
            raise
        except Exception as exc:
            failure = exc
            self._state = ActorState.FAILED
            self._last_error = describe_error(exc)
            raise
        finally:
            self._close_mailbox(send_stream, receive_stream)
            try:
                with anyio.move_on_after(_CLEANUP_S, shield=True):
                    await self.on_close()
            except Exception as close_error:
                if failure is None:
                    raise
                # Keep the original error; the cleanup failure is secondary.
                logger.warning(
                    "actor.close_failed actor=%s error=%r", self.name, close_error, exc_info=True
                )

    async def _handle_until_stopped(self, receive_stream: MemoryObjectReceiveStream[T]) -> None:
        """Hand messages to ``handle_batch`` until the mailbox is closed and empty."""
        while True:
            try:
                batch = [await receive_stream.receive()]
            except anyio.EndOfStream:
                return  # request_stop() closed the mailbox and everything queued was handled
            while len(batch) < self._max_batch:
                try:
                    batch.append(receive_stream.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            await self.handle_batch(batch)
            self._messages_handled += len(batch)
            self._batches_handled += 1

    def _close_mailbox(
        self,
        send_stream: MemoryObjectSendStream[T],
        receive_stream: MemoryObjectReceiveStream[T],
    ) -> None:
        """Close this run's mailbox, dropping (and logging) whatever is still queued."""
        dropped = receive_stream.statistics().current_buffer_used
        self._send_stream = None
        self._receive_stream = None
        # Senders waiting for room see BrokenResourceError and then wait for the next run.
        send_stream.close()
        receive_stream.close()
        self._notify_mailbox_changed()
        if dropped:
            logger.warning(
                "actor.mailbox_dropped actor=%s dropped=%d state=%s",
                self.name,
                dropped,
                self._state.name.lower(),
            )

    def _notify_mailbox_changed(self) -> None:
        if self._mailbox_changed is not None:
            self._mailbox_changed.set()
            self._mailbox_changed = None

    def _closed_error(self) -> anyio.ClosedResourceError:
        return anyio.ClosedResourceError(
            f"Actor {self.name!r} is stopping or stopped; it accepts no new messages."
        )

    # -- hooks -------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Prepare before the first message of a run (open resources). Default: nothing."""

    async def handle(self, message: T) -> None:
        """Handle one message. Override this, or ``handle_batch``.

        Raises:
            NotImplementedError: neither ``handle`` nor ``handle_batch`` is overridden.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must override handle() or handle_batch()."
        )

    async def handle_batch(self, messages: list[T]) -> None:
        """Handle up to ``max_batch`` messages. Default: ``handle`` each, in order."""
        for message in messages:
            await self.handle(message)

    async def on_stop(self) -> None:
        """Finish after a graceful stop, once the mailbox is drained (flush here)."""

    async def on_close(self) -> None:
        """Release resources; runs whenever ``run()`` ends, in a 5 s shield. Default: nothing."""

    # -- observing ---------------------------------------------------------------------

    def mailbox_depth(self) -> int:
        """Return how many messages wait in the mailbox right now."""
        if self._receive_stream is None:
            return 0
        return self._receive_stream.statistics().current_buffer_used

    def statistics(self) -> ActorStatistics:
        """Return a snapshot of the actor's counters."""
        return ActorStatistics(
            name=self.name,
            state=self._state,
            mailbox_depth=self.mailbox_depth(),
            mailbox_size=self._mailbox_size,
            messages_handled=self._messages_handled,
            batches_handled=self._batches_handled,
        )

    def health(self) -> list[ActorHealth]:
        """Return this actor's health entry (its supervisor prefixes the path)."""
        return [
            ActorHealth(
                path=self.name,
                state=self._state,
                restarts=0,
                mailbox_depth=self.mailbox_depth(),
                mailbox_size=self._mailbox_size,
                last_error=self._last_error,
            )
        ]

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} state={self._state.name.lower()} "
            f"depth={self.mailbox_depth()}/{self._mailbox_size} "
            f"handled={self._messages_handled}>"
        )
