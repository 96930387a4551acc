"""``observatory check versions|schemas``: repository consistency checks for CI and humans."""

from __future__ import annotations

from launcher.checks.schemas import Finding, check_schemas, compare_schemas
from launcher.checks.versions import check_versions

__all__ = ["Finding", "check_schemas", "check_versions", "compare_schemas"]
