"""Market categories from Gamma tags.

Real Gamma markets usually carry no ``category`` field: what a market is about is in
its tags (``include_tag=true`` on the market routes) and in its events' tags. A tag is
``{"id": "2", "label": "Politics", "slug": "politics", ...}``. The taxonomy that maps a
tag slug to one of our categories is the dbt seed ``dbt_project/seeds/category_tags.csv``
(``tag_slug, category, priority``): users edit that one file, and both the dbt models
and the execution plane read it.

Rule: among a market's tags (its own first, then its events'), the mapped tag with the
lowest priority decides, ties broken by the tag's position; a legacy ``category`` field
is mapped through the same table (spaces and case folded, as slugs are). A market
nothing maps is ``"unknown"`` — its own value, never guessed.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

UNKNOWN = "unknown"
TAXONOMY_CSV = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "category_tags.csv"


@dataclass(frozen=True, slots=True)
class Tag:
    """One Gamma tag on a market, in the order served; ``source`` is "market" or "event"."""

    tag_id: str | None
    slug: str
    label: str | None
    source: str


def slugify(text: str) -> str:
    return "-".join(str(text).strip().lower().replace("_", " ").split())


def parse_tags(rec: dict, event_tags: list | None = None) -> list[Tag]:
    """The tags of a Gamma market record: ``tags`` (a list, or a JSON-encoded list), each
    of ``events[].tags``, then ``event_tags`` (its event's tags read from /events). Tags
    without a slug or label are skipped (they name nothing); repeats keep their first place."""
    out: list[Tag] = []
    seen: set[str] = set()

    def add(items, source: str) -> None:
        if isinstance(items, str):
            try:
                items = json.loads(items)
            except ValueError:
                return
        if not isinstance(items, list):
            return
        for t in items:
            if isinstance(t, str):
                slug, label, tid = slugify(t), t, None
            elif isinstance(t, dict):
                raw = t.get("slug") or t.get("label")
                if not raw:
                    continue
                slug, label = slugify(raw), t.get("label")
                tid = None if t.get("id") is None else str(t.get("id"))
            else:
                continue
            if slug and slug not in seen:
                seen.add(slug)
                out.append(Tag(tid, slug, None if label is None else str(label), source))

    add(rec.get("tags"), "market")
    for ev in rec.get("events") or []:
        if isinstance(ev, dict):
            add(ev.get("tags"), "event")
    if event_tags:
        add(event_tags, "event")
    return out


@lru_cache(maxsize=4)
def load_taxonomy(path: str | Path = TAXONOMY_CSV) -> dict[str, tuple[str, int]]:
    """{tag slug: (category, priority)} from the seed file. A malformed row is named in
    the error, with its line number."""
    table: dict[str, tuple[str, int]] = {}
    with open(path, newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            try:
                slug, category, priority = row["tag_slug"].strip(), row["category"].strip(), int(row["priority"])
            except (KeyError, TypeError, ValueError, AttributeError):
                raise ValueError(f"{path}:{n}: expected tag_slug,category,priority; got {row}") from None
            if not slug or not category:
                raise ValueError(f"{path}:{n}: empty tag_slug or category")
            table[slug] = (category, priority)
    return table


def category_of(tags: list[Tag], legacy_category: str | None = None,
                taxonomy: dict[str, tuple[str, int]] | None = None) -> tuple[str, str | None]:
    """(category, the slug that decided it) for a market; (``"unknown"``, None) when no
    tag and no legacy field maps."""
    tax = load_taxonomy() if taxonomy is None else taxonomy
    best: tuple[int, int, str, str] | None = None
    for pos, t in enumerate(tags):
        hit = tax.get(t.slug)
        if hit and (best is None or (hit[1], pos) < best[:2]):
            best = (hit[1], pos, hit[0], t.slug)
    if best is not None:
        return best[2], best[3]
    if legacy_category:
        hit = tax.get(slugify(legacy_category))
        if hit:
            return hit[0], slugify(legacy_category)
    return UNKNOWN, None
