"""A web-page fetcher: an example app, run with ``observatory up --app examples.fetcher``.

Two job types, both taking ``{"url": "http://...", "maxBytes": 1000000}`` (checked
against ``schemas/page.json`` at the gateway: a payload off it is refused with 400 and
the failing path, e.g. ``/payload/url``):

``fetch-page``
    an ``async def``, run on the processor's event loop: fetches the page and answers
    its status, size, title and SHA-256.
``page-links``
    a plain ``def``, run in a worker thread (it may block): fetches the page and
    answers the links on it, made absolute.

A page that answers 4xx (404, say) fails the job at once with ``NonRetryable``: asking
again cannot change the answer. A server that does not answer, or answers 5xx, fails the
attempt, which is retried with backoff. With no internet, serve the pages in ``site/``::

    python -m http.server 8765 --bind 127.0.0.1 --directory examples/fetcher/site
    observatory up --app examples.fetcher
    observatory submit fetch-page --payload '{"url": "http://127.0.0.1:8765/"}' --wait
"""

from __future__ import annotations

from examples.fetcher.jobs import PAYLOAD_SCHEMA, fetch_page, page_links

__all__ = ["PAYLOAD_SCHEMA", "fetch_page", "page_links"]
