"""What the command-line parsers share: reading a number from an option's text.

Each option keeps its own range check and message; only the reading is here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["parse_number"]

NumberT = TypeVar("NumberT", int, float)


def parse_number(text: str, kind: Callable[[str], NumberT], what: str) -> NumberT:
    """``text`` read by ``kind`` (``int``, ``float`` or a function of the like).

    Raises:
        argparse.ArgumentTypeError: ``kind`` refused ``text``: "'<text>' is not <what>".
    """
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
