"""What the commands that connect to servers share: saying where a server's URL is set.

A store's or broker's :class:`~actors.errors.DependencyUnavailable` already names the
server (password hidden), the error and what to check; a command knows one thing more,
the option or variable the URL came from, and adds it with :func:`url_set_by`. ``main``
(:mod:`launcher.cli`) prints the sentence as one line and exits 1.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from actors.errors import DependencyUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["url_set_by"]


@contextmanager
def url_set_by(setting: str) -> Iterator[None]:
    """Add "The URL is set by ``setting``." to a server's unavailability raised inside.

    Args:
        setting: where the URL comes from, as the user would change it:
            ``"--database-url or POSTGRES_URL"``, ``"MONGO_URL"``.

    Raises:
        DependencyUnavailable: the error raised inside, with the setting named. ``from
            None``: the sentence already carries all of the inner one.
    """
    try:
        yield
    except DependencyUnavailable as exc:
        raise DependencyUnavailable(f"{exc} The URL is set by {setting}.") from None
