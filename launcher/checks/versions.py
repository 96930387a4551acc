"""``observatory check versions``: every image and version label matches the package VERSION.

Reads the YAML under ``manifests/`` as it is (nothing is rendered): an image of ours
(``task-observatory:...``) must carry the package VERSION as its tag, no image may use
``:latest`` or no tag at all, and every ``app.kubernetes.io/version`` label (object labels,
kustomization ``labels``/``commonLabels``) must equal VERSION. The Dockerfile may not use
``:latest`` either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actors._version import VERSION

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["OUR_IMAGE", "VERSION_LABEL", "VersionReport", "check_versions", "split_image"]

OUR_IMAGE = "task-observatory"
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF = "task-observatory"
VERSION_LABEL = "app.kubernetes.io/version"


@dataclass
class VersionReport:
    """Problems (one line each) and what was looked at."""

    problems: list[str] = field(default_factory=list)
    files: int = 0
    our_images: int = 0
    other_images: int = 0
    labels: int = 0

    def summary(self, version: str) -> str:
        return (
            f"OK: {self.files} YAML files under manifests/: {self.our_images} images of ours at "
            f"{version}, {self.other_images} other images pinned, {self.labels} "
            f"{VERSION_LABEL} labels at {version}; Dockerfile has no :latest"
        )


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``(repository, tag, digest)`` of an image reference (a registry port is not a tag)."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest or None
    return rest, None, digest or None


def _walk(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` at any depth of ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from _walk(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)


def _object_name(doc: dict[str, Any]) -> str:
    kind = doc.get("kind") or "(no kind)"
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{kind}/{name or '(unnamed)'}"


def _check_document(doc: dict[str, Any], where: str, version: str, report: VersionReport) -> None:
    for image in _walk(doc, "image"):
        if not isinstance(image, str):
            continue
        repository, tag, digest = split_image(image)
        ours = repository == OUR_IMAGE or repository.endswith("/" + OUR_IMAGE)
        if ours:
            report.our_images += 1
            if tag != version:
                report.problems.append(
                    f"{where}: image {image!r} has tag {tag!r}, expected {version!r} "
                    "(the package VERSION)"
                )
            continue
        report.other_images += 1
        if tag == "latest":
            report.problems.append(f"{where}: image {image!r} uses :latest; pin a version")
        elif tag is None and digest is None:
            report.problems.append(f"{where}: image {image!r} has no tag; pin a version")

    label_sets: list[Any] = list(_walk(doc, "labels")) + list(_walk(doc, "commonLabels"))
    if doc.get("kind") == "Kustomization" and isinstance(doc.get("labels"), list):
        label_sets += [entry.get("pairs") for entry in doc["labels"] if isinstance(entry, dict)]
    for labels in label_sets:
        if isinstance(labels, dict) and labels.get(PART_OF_LABEL, PART_OF) != PART_OF:
            continue  # a third party's object (manifests/ingress-nginx): its own version
        if isinstance(labels, dict) and VERSION_LABEL in labels:
            report.labels += 1
            value = str(labels[VERSION_LABEL])
            if value != version:
                report.problems.append(
                    f"{where}: label {VERSION_LABEL}={value!r}, expected {version!r} "
                    "(the package VERSION)"
                )

    if doc.get("kind") == "Kustomization":
        for entry in doc.get("images") or []:
            if not isinstance(entry, dict) or "newTag" not in entry:
                continue
            name = str(entry.get("newName") or entry.get("name") or "")
            tag = str(entry["newTag"])
            if name == OUR_IMAGE or name.endswith("/" + OUR_IMAGE):
                if tag != version:
                    report.problems.append(
                        f"{where}: images[{name}].newTag={tag!r}, expected {version!r} "
                        "(the package VERSION)"
                    )
            elif tag == "latest":
                report.problems.append(f"{where}: images[{name}].newTag='latest'; pin a version")


def check_versions(root: Path, version: str = VERSION) -> VersionReport:
    """Check ``root/manifests/**/*.y*ml`` and ``root/Dockerfile`` against ``version``."""
    import yaml

    report = VersionReport()
    manifests = root / "manifests"
    files = sorted([*manifests.rglob("*.yaml"), *manifests.rglob("*.yml")])
    for path in files:
        relative = path.relative_to(root).as_posix()
        report.files += 1
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as error:
            report.problems.append(f"{relative}: not valid YAML: {error}")
            continue
        for doc in docs:
            if isinstance(doc, dict):
                _check_document(doc, f"{relative}: {_object_name(doc)}", version, report)
    dockerfile = root / "Dockerfile"
    if dockerfile.exists():
        for number, line in enumerate(dockerfile.read_text().splitlines(), start=1):
            text = line.strip()
            if text and not text.startswith("#") and ":latest" in text:
                report.problems.append(
                    f"Dockerfile:{number}: uses :latest ({text!r}); pin a version"
                )
    return report
