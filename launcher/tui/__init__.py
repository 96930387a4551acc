"""``observatory tui``: the Textual console (launcher, loading splash, dashboard)."""

from __future__ import annotations

from launcher.tui.app import ObservatoryApp
from launcher.tui.options import TuiOptions

__all__ = ["ObservatoryApp", "TuiOptions"]
