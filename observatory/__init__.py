"""Task Observatory's public API: what your code imports.

Handler authors and clients import from here, and only from here; every name in
``__all__`` is kept stable across releases (``tests/unit/observatory/test_public_api.py``
pins the list). Everything under ``actors``, ``quart_app`` and ``launcher`` is the
observatory's own machinery and may change.
"""

from __future__ import annotations

__all__: list[str] = []
