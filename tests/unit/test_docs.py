"""The documentation: the architecture map exists, is linked, and names only real paths.

``docs/architecture.md`` is the newcomer's map of the code; every repository path it
writes in backticks must exist, so a move or a rename that forgets the map fails here
instead of leaving it quietly wrong. Nothing in ``README.md`` or ``docs/`` may point
outside the repository to ``../shared``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"

PATH_ROOTS = (
    "actors/",
    "contracts/",
    "docs/",
    "launcher/",
    "manifests/",
    "quart_app/",
    "scripts/",
    "tests/",
)
"""A word in backticks starting with one of these is a repository path."""

_FENCED_BLOCK = re.compile(r"^```.*?^```[^\n]*$", re.DOTALL | re.MULTILINE)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def repository_paths(markdown: str) -> list[str]:
    """The repository paths written in inline code spans of ``markdown``, in order.

    A span may hold a command (``scripts/test tests/unit``): each of its words that
    starts with a :data:`PATH_ROOTS` entry and contains a ``/`` or ends in ``.py`` counts.
    Fenced blocks (diagrams, shell examples) are left out; dotted module names
    (``actors.broker.amqp``) are not paths.
    """
    text = _FENCED_BLOCK.sub("", markdown)
    return [
        word
        for span in _CODE_SPAN.findall(text)
        for word in span.split()
        if word.startswith(PATH_ROOTS) and ("/" in word or word.endswith(".py"))
    ]


def exists(path: str) -> bool:
    """Whether ``path`` exists under the repository root.

    A template such as ``launcher/tui/screens/<name>.py`` exists when the folder before
    its first placeholder does; a glob exists when it matches something.
    """
    if "<" in path:
        folder = path[: path.index("<")].rpartition("/")[0]
        return (ROOT / folder).is_dir()
    if any(char in path for char in "*?["):
        return any(ROOT.glob(path))
    return (ROOT / path).exists()


def test_the_architecture_map_exists_and_the_readme_links_it() -> None:
    assert ARCHITECTURE.is_file()
    assert "](docs/architecture.md)" in README.read_text(encoding="utf-8")


def test_nothing_in_the_readme_or_docs_points_to_shared() -> None:
    files = [README, *sorted(p for p in (ROOT / "docs").rglob("*") if p.is_file())]
    offenders = [str(f.relative_to(ROOT)) for f in files if b"../shared" in f.read_bytes()]
    assert offenders == []


def test_every_path_the_architecture_map_names_exists() -> None:
    paths = repository_paths(ARCHITECTURE.read_text(encoding="utf-8"))
    # The map names dozens of paths: far fewer means the extraction broke, not the map.
    assert len(set(paths)) >= 60
    missing = sorted({path for path in paths if not exists(path)})
    assert missing == []


def test_paths_are_found_in_spans_and_commands_but_not_in_blocks_or_dotted_names() -> None:
    markdown = (
        "See `actors/processor/service.py`, the `actors.broker.amqp` module, queue "
        "`jobs.created`, run `scripts/test tests/unit -q`, folder `tests/unit/`.\n"
        "```\nactors/not/a/checked/path.py `actors/nor/this.py`\n```\n"
        "And `launcher/tui/screens/<name>.py`.\n"
    )
    assert repository_paths(markdown) == [
        "actors/processor/service.py",
        "scripts/test",
        "tests/unit",
        "tests/unit/",
        "launcher/tui/screens/<name>.py",
    ]


def test_templates_globs_and_plain_paths_are_checked_against_the_tree() -> None:
    assert exists("actors/processor/service.py")
    assert exists("tests/unit/actors/")
    assert exists("launcher/tui/screens/<name>.py")
    assert exists("tests/unit/actors/stores/test_*_contract.py")
    assert not exists("actors/processor.py")
    assert not exists("launcher/no_such_folder/<name>.py")
    assert not exists("tests/unit/actors/stores/test_*_nothing.py")
