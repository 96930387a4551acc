"""The ``observatory check`` command line: ``versions`` and ``schemas``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio

from actors._version import VERSION
from launcher.checks.schemas import check_schemas
from launcher.checks.versions import check_versions
from launcher.cluster._errors import LauncherError
from launcher.cluster._run import ProcessRunner

if TYPE_CHECKING:
    import argparse

    from launcher.cluster._run import Runner

__all__ = ["CHECK_EPILOG", "add_check_arguments", "check_main"]

CHECK_EPILOG = """\
examples:
  observatory check versions              image tags and version labels == package VERSION
  observatory check schemas               contracts/schemas vs the last commit (HEAD)
  observatory check schemas --base origin/main

Exit 1 with one line per problem; `OK: ...` and exit 0 otherwise.
"""


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands and options of ``observatory check``."""
    checks = parser.add_subparsers(dest="check_command", metavar="CHECK", required=True)
    versions = checks.add_parser(
        "versions",
        help="image tags and app.kubernetes.io/version labels under manifests/ match VERSION",
        description=f"Read every YAML file under manifests/ (nothing is rendered) and the "
        f"Dockerfile: images of ours must be tagged with the package VERSION ({VERSION}), no "
        "image may use :latest or no tag, and app.kubernetes.io/version labels must equal "
        "VERSION.",
    )
    versions.add_argument(
        "--root", type=Path, default=Path(), help="project root (default: the current directory)"
    )
    schemas = checks.add_parser(
        "schemas",
        help="changes to contracts/schemas/*.json against a git base follow SemVer",
        description="Compare each contracts/schemas/*.json with its version at --base. "
        "Compatible: a new optional property, a wider enum or type. Breaking (needs a major "
        "$version bump): a removed property, a new required property, a changed type, a "
        "narrower enum. Any change needs a valid SemVer $version no lower than before; every "
        "schema needs a unique $id. A schema absent at the base is new.",
    )
    schemas.add_argument(
        "--base",
        default="HEAD",
        metavar="GIT_REF",
        help="compare the working tree with this commit (default: HEAD, the last commit)",
    )
    schemas.add_argument(
        "--root", type=Path, default=Path(), help="repository root (default: the current directory)"
    )
    schemas.add_argument(
        "--verbose", action="store_true", help="also list the compatible changes found"
    )


def _problems(count: int) -> str:
    return f"{count} problem" if count == 1 else f"{count} problems"


def check_main(
    args: argparse.Namespace, *, runner: Runner | None = None, out: TextIO | None = None
) -> int:
    """Run ``observatory check <what>``; 1 when a problem was found, else 0."""
    out = out or sys.stdout
    if args.check_command == "versions":
        report = check_versions(args.root)
        if report.problems:
            out.writelines(f"FAIL: {problem}\n" for problem in report.problems)
            count = len(report.problems)
            out.write(f"check versions: {_problems(count)} (VERSION is {VERSION})\n")
            return 1
        out.write(report.summary(VERSION) + "\n")
        return 0
    if args.check_command == "schemas":
        schema_report = anyio.run(
            check_schemas, args.root.resolve(), args.base, runner or ProcessRunner()
        )
        errors = schema_report.errors
        shown = schema_report.findings if getattr(args, "verbose", False) else errors
        out.writelines(finding.line() + "\n" for finding in shown)
        if errors:
            out.write(f"check schemas: {_problems(len(errors))} against {args.base}\n")
            return 1
        out.write(schema_report.summary() + "\n")
        return 0
    raise LauncherError(
        ["observatory", "check", str(args.check_command)],
        exit_code=None,
        reason="is not a check",
        hint="use versions or schemas",
    )
