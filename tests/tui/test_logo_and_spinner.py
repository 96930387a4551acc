"""The logo's integrity, the spinner's frames and the order of the splash messages."""

from __future__ import annotations

import unicodedata

import pytest
from textual.app import App

from launcher.tui.logo import LOGO, LOGO_LINES, LOGO_WIDTH
from launcher.tui.screens import SplashScreen
from launcher.tui.spinner import (
    LOADING_MESSAGES,
    SPINNER_FRAMES,
    TICKS_PER_MESSAGE,
    message_at,
    spinner_at,
)


def test_logo_has_eleven_printable_ascii_lines_without_trailing_blanks() -> None:
    assert len(LOGO_LINES) == 11
    assert LOGO == "\n".join(LOGO_LINES)
    assert LOGO.count("\n") == 10
    for line in LOGO_LINES:
        assert line.isascii()
        assert all(ch.isprintable() for ch in line), line
        assert line == line.rstrip(), f"trailing blanks in {line!r}"
    assert LOGO_WIDTH == max(map(len, LOGO_LINES)) == 59


def test_spinner_has_ten_distinct_braille_frames_in_order() -> None:
    assert SPINNER_FRAMES == ("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏")
    assert len(set(SPINNER_FRAMES)) == 10
    for frame in SPINNER_FRAMES:
        assert len(frame) == 1
        assert 0x2800 <= ord(frame) <= 0x28FF
        assert unicodedata.name(frame).startswith("BRAILLE PATTERN")


def test_spinner_wraps_after_ten_ticks() -> None:
    assert [spinner_at(t) for t in range(12)] == [*SPINNER_FRAMES, "⠋", "⠙"]


def test_messages_cycle_in_order_one_per_spinner_turn() -> None:
    shown = [message_at(t) for t in range(TICKS_PER_MESSAGE * (len(LOADING_MESSAGES) + 1))]
    changes = [m for n, m in enumerate(shown) if n == 0 or shown[n - 1] != m]
    assert changes == [*LOADING_MESSAGES, LOADING_MESSAGES[0]]
    assert shown[:TICKS_PER_MESSAGE] == [LOADING_MESSAGES[0]] * TICKS_PER_MESSAGE


@pytest.mark.parametrize("ticks", [0, 1, 9, 10, 25, 49, 50])
async def test_splash_shows_the_frame_and_message_of_its_tick(ticks: int) -> None:
    app: App[None] = App()
    splash = SplashScreen("Looking", tick_s=None)
    async with app.run_test() as pilot:
        await app.push_screen(splash)
        for _ in range(ticks):
            splash.advance()
        await pilot.pause()
        shown = str(splash.query_one("#spinner").render())
        assert shown == f"{SPINNER_FRAMES[ticks % 10]} {LOADING_MESSAGES[(ticks // 10) % 5]}..."
        assert str(splash.query_one("#logo").render()) == LOGO
