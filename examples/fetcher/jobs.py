"""The fetcher's handlers: ``fetch-page`` (async) and ``page-links`` (sync, a thread)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin

import httpx

from observatory import JobContext, NonRetryable, handler

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PAYLOAD_SCHEMA", "fetch_page", "page_links"]

PAYLOAD_SCHEMA = "schemas/page.json"
"""The payload schema of both types, relative to this module (it ships in the package)."""
DEFAULT_MAX_BYTES = 1_000_000
"""How much of a body is read when the payload does not say (``maxBytes``)."""
REQUEST_TIMEOUT_S = 10.0
"""Bound of one request (below the types' ``timeout_s``, so the error names the request)."""
HEADERS = {"User-Agent": "observatory-fetcher-example/1"}


@dataclass(frozen=True, slots=True)
class Page:
    """What a fetch brought back: the final URL (after redirects) and the body read."""

    url: str
    status: int
    content_type: str
    body: bytes
    truncated: bool

    @classmethod
    def of(cls, response: httpx.Response, body: bytearray, limit: int) -> Page:
        """The page ``response`` answered, of which ``body`` was read (up to ``limit``)."""
        return cls(
            str(response.url),
            response.status_code,
            response.headers.get("content-type", ""),
            bytes(body[:limit]),
            len(body) > limit,
        )


class _PageParser(HTMLParser):
    """Collects the title and the ``href`` of every ``<a>`` of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.links: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "a" and (href := dict(attrs).get("href")):
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _parse(page: Page) -> _PageParser:
    parser = _PageParser()
    if "html" in page.content_type:
        parser.feed(page.body.decode("utf-8", errors="replace"))
        parser.close()
    return parser


def _request(payload: Mapping[str, object]) -> tuple[str, int]:
    """The URL and byte limit of a payload (the schema checked it before the handler)."""
    url, limit = payload["url"], payload.get("maxBytes", DEFAULT_MAX_BYTES)
    assert isinstance(url, str)
    assert isinstance(limit, int)
    return url, limit


def _check(url: str, response: httpx.Response) -> None:
    """Fail for good on a 4xx (no retry changes it); a 5xx fails only this attempt."""
    if 400 <= response.status_code < 500:
        raise NonRetryable(
            f"GET {url} answered {response.status_code} {response.reason_phrase}; "
            "fetching it again would get the same answer."
        )
    response.raise_for_status()


@handler(
    "fetch-page",
    payload_schema=PAYLOAD_SCHEMA,
    timeout_s=15,
    max_attempts=3,
    retry_backoff_s=0.5,
    concurrency=8,
)
async def fetch_page(job: JobContext) -> object:
    """Fetch a page on the event loop: its status, size, title and SHA-256."""
    url, limit = _request(job.payload)
    body = bytearray()
    async with (
        httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_S, follow_redirects=True, headers=HEADERS
        ) as client,
        client.stream("GET", url) as response,
    ):
        _check(url, response)
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                break
        page = Page.of(response, body, limit)
    return {
        "url": page.url,
        "status": page.status,
        "contentType": page.content_type,
        "bytes": len(page.body),
        "truncated": page.truncated,
        "title": _parse(page).title.strip() or None,
        "sha256": hashlib.sha256(page.body).hexdigest(),
    }


@handler("page-links", payload_schema=PAYLOAD_SCHEMA, timeout_s=15, max_attempts=3)
def page_links(job: JobContext) -> object:
    """Fetch a page in a worker thread (blocking is fine here) and list its links."""
    url, limit = _request(job.payload)
    body = bytearray()
    with (
        httpx.Client(timeout=REQUEST_TIMEOUT_S, follow_redirects=True, headers=HEADERS) as client,
        client.stream("GET", url) as response,
    ):
        _check(url, response)
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                break
        page = Page.of(response, body, limit)
    parsed = _parse(page)
    links = [urldefrag(urljoin(page.url, href)).url for href in parsed.links]
    return {
        "url": page.url,
        "title": parsed.title.strip() or None,
        "links": list(dict.fromkeys(links)),
    }
