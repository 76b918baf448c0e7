"""Categories from Gamma tags, on the real record shapes: the captured resolved market
(which, like most real markets, has no category field and no tags), and tags in the
shape Gamma embeds them in markets and events."""

import copy
import json

import pytest

from polycopy.polymarket.categories import UNKNOWN, category_of, load_taxonomy, parse_tags
from polycopy.polymarket.markets import parse_market
from tests.conftest import FIXTURES

GAMMA = json.loads((FIXTURES / "gamma_market_resolved_real.json").read_text())


def tag(tid: str, slug: str, label: str) -> dict:
    """A tag as Gamma serves it (ids are strings)."""
    return {"id": tid, "label": label, "slug": slug, "forceShow": False, "publishedAt": "2023-10-25 18:33:29.08+00",
            "createdAt": "2023-10-25T18:33:29.083Z", "updatedAt": "2024-07-25T20:14:08.468Z"}


def test_the_real_market_has_no_category_and_is_unknown():
    assert "category" not in GAMMA and "tags" not in GAMMA
    m = parse_market(GAMMA)
    assert (m.category, m.category_tag, m.gamma_category) == (UNKNOWN, None, None)
    assert m.tag_list == []


def test_the_real_market_with_its_tags_is_categorized_by_them():
    rec = copy.deepcopy(GAMMA)
    rec["tags"] = [tag("1", "sports", "Sports"), tag("745", "nba", "NBA"), tag("100639", "games", "Games")]
    m = parse_market(rec)
    # The narrow category decides: nba (basketball, priority 10) beats sports (30) and games (40).
    assert (m.category, m.category_tag) == ("basketball", "nba")
    assert [t.slug for t in m.tag_list] == ["sports", "nba", "games"]
    assert [t.tag_id for t in m.tag_list] == ["1", "745", "100639"]


def test_event_tags_decide_when_the_market_has_none():
    rec = copy.deepcopy(GAMMA)
    rec["events"] = [{"id": "12345", "slug": "nba-mem-okc-2025-03-27", "title": "Grizzlies vs. Thunder"}]
    m = parse_market(rec, event_tags=[tag("745", "nba", "NBA")])
    assert (m.category, m.category_tag) == ("basketball", "nba")
    assert m.tag_list[0].source == "event"
    # Tags embedded in the event record count the same way.
    rec["events"][0]["tags"] = [tag("2", "politics", "Politics")]
    assert parse_market(rec).category == "politics"


def test_priority_then_order_decides_between_categories():
    tax = load_taxonomy()
    tags = parse_tags({"tags": [tag("9", "elon-musk", "Elon Musk"), tag("8", "trump", "Trump")]})
    assert category_of(tags, taxonomy=tax) == ("politics", "trump")  # 20 beats 30
    tags = parse_tags({"tags": [tag("9", "sports", "Sports"), tag("8", "tennis", "Tennis")]})
    assert category_of(tags, taxonomy=tax) == ("sports", "tennis")  # a narrow tag of the broad category
    tags = parse_tags({"tags": [tag("9", "bitcoin", "Bitcoin"), tag("8", "fed", "Fed")]})
    assert category_of(tags, taxonomy=tax) == ("crypto", "bitcoin")  # equal priority: the first served


def test_uninformative_tags_and_legacy_fields():
    only_noise = parse_tags({"tags": [tag("1", "featured", "Featured"), tag("2", "hide-from-new", "Hide From New")]})
    assert category_of(only_noise) == (UNKNOWN, None)
    assert category_of([], "Sports") == ("sports", "sports")  # older markets' own field, mapped the same way
    assert category_of([], "US-current-affairs") == ("politics", "us-current-affairs")
    assert category_of([], "Knitting") == (UNKNOWN, None)  # a field the taxonomy does not know: not guessed
    # Tags served as a JSON-encoded string, by label only, or malformed are read as far as they go.
    assert [t.slug for t in parse_tags({"tags": json.dumps([{"id": "1", "label": "Pop Culture"}])})] == ["pop-culture"]
    assert parse_tags({"tags": [None, 3, {"id": "1"}, "crypto"], "events": "nope"})[0].slug == "crypto"
    assert parse_tags({"tags": "not json"}) == []


def test_a_malformed_taxonomy_row_is_named_with_its_line(tmp_path):
    bad = tmp_path / "category_tags.csv"
    bad.write_text("tag_slug,category,priority\npolitics,politics,10\nsports,sports,high\n")
    with pytest.raises(ValueError, match=r"category_tags.csv:3"):
        load_taxonomy(bad)
