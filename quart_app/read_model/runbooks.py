"""``GET /runbooks``: the alerts' runbooks (``runbooks.md`` beside this module) as HTML.

Every alert's ``runbook_url`` (the Prometheus rules' and the read model's own, see
:mod:`quart_app.read_model.alert_rules`) points at a section of this page: each heading
gets an ``id``, its text in lower case with everything but letters, digits, ``-`` and
``_`` dropped and spaces made ``-`` (GitHub's anchors: ``## ServiceDown`` is
``#servicedown``). The Markdown is CommonMark, rendered by markdown-it-py once, when the
app is built; it ships inside the package (package data), so an installed copy serves it.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from markdown_it import MarkdownIt
from quart import Quart, Response

from quart_app.openapi import operation, text_response

__all__ = ["RUNBOOKS_FILE", "anchor", "install_runbooks_route", "render_runbooks"]

RUNBOOKS_FILE = Path(__file__).with_name("runbooks.md")
"""The runbooks' Markdown (``docs/runbooks.md`` in a checkout links here)."""

_STYLE = (
    "body{font:15px/1.55 system-ui,sans-serif;max-width:52rem;margin:2rem auto;"
    "padding:0 1rem;color:#1d2433}h2{margin-top:2.2rem;border-bottom:1px solid #d5dbe7}"
    "code{background:#f3f5f9;border-radius:5px;padding:.1rem .3rem}"
    ":target{background:#fff6d6}a.anchor{margin-left:.4rem;color:#8a94a6;"
    "text-decoration:none}"
)


def anchor(heading: str) -> str:
    """The ``id`` of a section titled ``heading``."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def render_runbooks(markdown: str) -> str:
    """``markdown`` as a whole HTML page, each heading with its :func:`anchor` as ``id``."""
    md = MarkdownIt("commonmark")
    tokens = md.parse(markdown)
    title = "Runbooks"
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = tokens[index + 1].content
        token.attrSet("id", anchor(text))
        if token.tag == "h1":
            title = text
    body = md.renderer.render(tokens, md.options, {})
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def install_runbooks_route(app: Quart) -> None:
    """Add ``GET /runbooks`` to the read model ``app`` (open: it holds no job data)."""
    page = render_runbooks(RUNBOOKS_FILE.read_text(encoding="utf-8"))

    @app.get("/runbooks")
    @operation(
        "runbooks",
        summary="The alerts' runbooks, one section per alert (each alert's `runbook_url`).",
        tags=["alerts"],
        responses={200: text_response("The page.", "text/html")},
    )
    async def runbooks() -> Response:
        return Response(page, content_type="text/html; charset=utf-8")
