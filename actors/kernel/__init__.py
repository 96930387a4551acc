"""The actor kernel: actors with bounded mailboxes, and OTP-style supervisors.

An ``Actor`` owns its state and reads a bounded mailbox one message (or one batch) at
a time; a ``Supervisor`` runs actors and nested supervisors as children, restarts the
ones that crash, and gives up (``actors.errors.SupervisorGaveUp``) when they crash too
often, leaving the decision to its own parent. Every service is one such tree::

    root = Supervisor("processor", [ChildSpec.of(persister), ChildSpec.of(ingress)])
    async with anyio.create_task_group() as tg:
        await tg.start(root.run)
        ...
        root.request_stop()  # stops ingress, then persister, after draining them
"""

from __future__ import annotations

from actors.kernel._actor import Actor, ActorStatistics
from actors.kernel._health import ActorHealth, ActorState
from actors.kernel._supervisor import (
    ChildSpec,
    Restart,
    Strategy,
    Supervisor,
    SupervisorStatistics,
)

__all__ = [
    "Actor",
    "ActorHealth",
    "ActorState",
    "ActorStatistics",
    "ChildSpec",
    "Restart",
    "Strategy",
    "Supervisor",
    "SupervisorStatistics",
]
