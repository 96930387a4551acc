"""An app whose import fails: ``observatory up --app tests.apps.broken`` must stop with
exit code 2 and one line naming the module and the exception."""

from __future__ import annotations

raise RuntimeError("the database password file /nonexistent is missing")
