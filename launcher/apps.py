"""Loading the user's handlers: ``--app``, ``OBSERVATORY_APP`` and entry points.

An *app* is a module whose ``@handler`` functions register on import, or
``module:attribute`` naming a ``HandlerRegistry`` of its own (``@handler(...,
registry=...)``)::

    observatory up --app myproject.jobs --app myproject.reports:registry
    OBSERVATORY_APP=myproject.jobs,myproject.reports observatory serve processor

Installed packages declare theirs in the entry point group ``observatory.handlers``
(``[project.entry-points."observatory.handlers"] myproject = "myproject.jobs"``); those
are loaded by every ``up`` and ``serve``, named apps or not.

The current directory is put on ``sys.path`` first (as ``python -m`` would), so
``--app tests.apps.sample`` works from a checkout. An app that fails to import stops the
start with :class:`AppLoadError`, which the command line prints as one line (exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry
from actors.errors import ConfigError
from launcher._arguments import parse_number

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "APP_ENV",
    "ENTRY_POINT_GROUP",
    "AppLoadError",
    "LoadedApps",
    "add_app_arguments",
    "app_names",
    "app_overrides",
    "load_apps",
]

APP_ENV = "OBSERVATORY_APP"
"""The environment form of ``--app``: comma-separated module names."""
ENTRY_POINT_GROUP = "observatory.handlers"
"""The entry point group installed packages declare their handler modules in."""


class AppLoadError(ConfigError):
    """A user's app could not be imported or does not name a registry."""


@dataclass(frozen=True, slots=True)
class LoadedApps:
    """The handlers to run, and which apps they came from."""

    registry: HandlerRegistry
    """The built-in handlers plus every app's (a copy: the process-wide one is untouched)."""
    named: tuple[str, ...]
    """The apps named by ``--app`` or ``OBSERVATORY_APP``."""
    entry_points: tuple[str, ...]
    """The entry points of ``observatory.handlers`` that were loaded."""


def app_names(cli_apps: Sequence[str] | None) -> tuple[str, ...]:
    """The apps to load: ``--app`` values when given, else ``OBSERVATORY_APP``'s."""
    raw = list(cli_apps) if cli_apps else os.environ.get(APP_ENV, "").split(",")
    names = [name.strip() for name in raw if name.strip()]
    return tuple(dict.fromkeys(names))


def _include(registry: HandlerRegistry, found: object, what: str) -> None:
    if isinstance(found, HandlerRegistry):
        try:
            registry.include(found)
        except ConfigError as exc:
            raise AppLoadError(f"Cannot load {what}: {exc}") from exc
    elif not hasattr(found, "__path__") and not hasattr(found, "__file__"):
        # Neither a registry nor a module: a typo'd attribute, most likely.
        raise AppLoadError(
            f"Cannot load {what}: it names a {type(found).__name__}, not a HandlerRegistry "
            "or a module."
        )


def _import(name: str) -> object:
    """The module, or ``module:attribute``'s attribute, named by ``name``.

    Raises:
        AppLoadError: the import raised (any exception), or the attribute is missing.
    """
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppLoadError(
            f"Cannot load app {name!r}: importing {module_name!r} raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise AppLoadError(
            f"Cannot load app {name!r}: module {module_name!r} has no attribute {attribute!r}."
        ) from None


def load_apps(names: Sequence[str], *, load_entry_points: bool = True) -> LoadedApps:
    """Import every app and return the handlers to run.

    Handlers registered with a plain ``@handler`` land in the process-wide registry on
    import; a ``module:attribute`` registry is merged in. The result is a copy, so two
    loads in one process (tests) do not share later registrations.

    Args:
        names: modules or ``module:attribute`` names, in order.
        load_entry_points: also load the ``observatory.handlers`` entry points.

    Raises:
        AppLoadError: an app or entry point failed to import, named no registry, or
            registered a type another handler already serves.
    """
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    found: list[tuple[object, str]] = [(_import(name), f"app {name!r}") for name in names]
    loaded_points: list[str] = []
    if load_entry_points:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            what = f"entry point {point.name!r} ({point.value}) of group {ENTRY_POINT_GROUP!r}"
            try:
                target = point.load()
            except Exception as exc:
                raise AppLoadError(f"Cannot load {what}: {type(exc).__name__}: {exc}") from exc
            found.append((target, what))
            loaded_points.append(point.name)
    registry = DEFAULT_REGISTRY.copy()
    for target, what in found:
        _include(registry, target, what)
    return LoadedApps(registry, tuple(names), tuple(loaded_points))


def _threads(text: str) -> int:
    value = parse_number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def add_app_arguments(parser: argparse.ArgumentParser, *, demo: bool = False) -> None:
    """Add ``--app``, ``--threads`` and ``--simulate-unknown-types`` to ``parser``."""
    parser.add_argument(
        "--app",
        action="append",
        metavar="MODULE",
        help="import MODULE (or MODULE:REGISTRY) for its @handler functions; repeatable "
        f"(default: ${APP_ENV}, comma-separated). Entry points of {ENTRY_POINT_GROUP!r} "
        "are always loaded",
    )
    parser.add_argument(
        "--threads",
        type=_threads,
        default=None,
        metavar="N",
        help="worker threads for plain-def handlers, per processor (default: "
        "$OBSERVATORY_THREADS or 10)",
    )
    also = " (--demo turns it on)" if demo else ""
    parser.add_argument(
        "--simulate-unknown-types",
        action="store_true",
        help="complete jobs of types no handler serves after a simulated delay instead of "
        f"failing them with \"no handler for type 'X'\"{also} "
        "(default: $OBSERVATORY_SIMULATE_UNKNOWN_TYPES or off)",
    )


def app_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The ``Settings`` overrides the app arguments ask for (none when not given)."""
    overrides: dict[str, object] = {}
    if args.threads is not None:
        overrides["threads"] = args.threads
    if args.simulate_unknown_types or getattr(args, "demo", False):
        overrides["simulate_unknown_types"] = True
    return overrides
