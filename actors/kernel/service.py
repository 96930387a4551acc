"""What every service tree offers its parent: run, a graceful stop, and its health."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from actors.observability.logs import bind

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from actors.kernel import ActorHealth, Supervisor

__all__ = ["ServiceTree"]


class ServiceTree:
    """Base of the service classes: one supervisor, logged under the service's name.

    Subclasses set ``name`` and ``supervisor`` in their constructor.
    """

    name: str
    supervisor: Supervisor

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the tree until it is asked to stop (or gives up)."""
        with bind(service=self.name):
            await self.supervisor.run(task_status=task_status)

    def request_stop(self) -> None:
        """Stop gracefully: children in the reverse of their start order, each draining."""
        self.supervisor.request_stop()

    def health(self) -> list[ActorHealth]:
        """Health entries of the whole tree."""
        return self.supervisor.health()
