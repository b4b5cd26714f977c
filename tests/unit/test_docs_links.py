"""The project's docs stand alone: every Markdown link resolves inside the repository.

Relative links must name a file (and, for a Markdown file, a heading) of this checkout; absolute
links may go only to the standards and package sites in ALLOWED_HOSTS; no text points into a
folder outside the repository (e.g. `../shared/...`).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

# Standards bodies, reference implementations' public sandboxes and package registries.
ALLOWED_HOSTS = frozenset(
    {
        "hl7.org",
        "build.fhir.org",
        "fhir.org",
        "cds-hooks.org",
        "cds-hooks.hl7.org",
        "sandbox.cds-hooks.org",
        "launch.smarthealthit.org",
        "docs.smarthealthit.org",
        "www.rfc-editor.org",
        "datatracker.ietf.org",
        "nginx.org",
        "pypi.org",
        "www.npmjs.com",
    }
)

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
# the project's working folders and documents that are not shipped with it
_OUTSIDE = re.compile(r"(?<![\w.])(\.\./shared/|/work/|clinical-spec\b)")


def _prose(path: Path) -> str:
    return _FENCE.sub("", path.read_text(encoding="utf-8"))


def _links(path: Path) -> list[str]:
    text = _prose(path)
    return [*_INLINE.findall(text), *_REFERENCE.findall(text), *_AUTOLINK.findall(text)]


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", _prose(path), re.M)}


def _problem(doc: Path, link: str) -> str | None:
    parts = urlsplit(link)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        return None if host in ALLOWED_HOSTS else f"absolute link to {host} (not allowed)"
    if parts.scheme == "mailto":
        return None
    if parts.scheme or parts.netloc:
        return f"link with scheme {parts.scheme!r}"
    target = (doc.parent / unquote(parts.path)).resolve() if parts.path else doc
    if not target.is_relative_to(ROOT):
        return "points outside the repository"
    if not target.exists():
        return "no such file in the repository"
    if parts.fragment and target.suffix == ".md" and parts.fragment not in _anchors(target):
        return f"no heading #{parts.fragment} in {target.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(doc: Path) -> None:
    bad = [f"{link}: {why}" for link in _links(doc) if (why := _problem(doc, link)) is not None]
    assert bad == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_text_points_into_a_folder_outside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert [m.group(0) for m in _OUTSIDE.finditer(text)] == []


def test_the_checker_catches_what_it_is_for(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "rules.md"
    assert _problem(doc, "../../shared/clinical-spec.md") == "points outside the repository"
    assert _problem(doc, "nowhere.md") == "no such file in the repository"
    assert _problem(doc, "https://example.com/x") == "absolute link to example.com (not allowed)"
    assert _problem(doc, "service.md#no-such-heading") is not None
    assert _problem(doc, "assessment-contract.md") is None
    assert _problem(doc, "https://hl7.org/fhir/R4/") is None
