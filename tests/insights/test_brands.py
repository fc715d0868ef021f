"""The brands file (TOML) and which brands a post mentions: aliases, word boundaries, the target shown."""

from __future__ import annotations

import pytest

from sentiment_fusion.insights import brands
from sentiment_fusion.insights.brands import (
    BrandsFileError,
    Mention,
    MentionConfig,
    find_mention,
    load_brands,
)

APPLE = ["apple", "@apple", "#apple", "$aapl", "#aapl", "iphone"]


def write(tmp_path, text: str, name: str = "brands.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_brands_file_names_each_brand_with_its_aliases(tmp_path):
    path = write(
        tmp_path,
        '[brands.apple]\naliases = ["apple", "@apple", "#apple", "$aapl", "#aapl", "iphone", "apple"]\n'
        "[brands.samsung]\n"  # no aliases: the name itself
        '[brands."Delta Air Lines"]\naliases = ["delta", "@delta"]\n',
    )
    assert load_brands(path) == {
        "apple": ("apple", "@apple", "#apple", "$aapl", "#aapl", "iphone"),  # repeats dropped, order kept
        "samsung": ("samsung",),
        "Delta Air Lines": ("delta", "@delta"),
    }


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[brands.apple\naliases = 1", "is not valid TOML: .*line 1"),
        ("", "names no brands"),
        ("[brand.apple]\naliases = ['apple']", r"unknown top-level key\(s\) \['brand'\]"),
        ("brands = 3", "names no brands"),
        ("[brands]\napple = 'apple'", "brands.apple must be a table"),
        ("[brands.apple]\nalias = ['apple']", r"brands.apple has unknown key\(s\) \['alias'\]"),
        ("[brands.apple]\naliases = 'apple'", "'apple': aliases must be a list of strings, got str"),
        ("[brands.apple]\naliases = []", "aliases is empty"),
        ("[brands.apple]\naliases = ['apple', 3]", "each alias must be a string, got int 3"),
        ("[brands.apple]\naliases = ['apple', '@']", "alias '@' names nothing"),
        ("[brands.apple]\naliases = ['apple', '#-']", "alias '#-' names nothing"),
        (f"[brands.apple]\naliases = ['{'x' * 101}']", "longer than 100 characters"),
    ],
)
def test_a_bad_brands_file_is_refused_naming_the_file_and_the_problem(tmp_path, content, problem):
    path = write(tmp_path, content)
    with pytest.raises(BrandsFileError, match=problem) as info:
        load_brands(path)
    assert str(path) in str(info.value)


def test_a_missing_unreadable_or_binary_brands_file_is_a_clear_error(tmp_path):
    with pytest.raises(BrandsFileError, match=r"brands file .*nope.toml not found"):
        load_brands(tmp_path / "nope.toml")
    with pytest.raises(BrandsFileError, match="is a folder"):
        load_brands(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"[brands.\xff]\n")
    with pytest.raises(BrandsFileError, match=r"bin.toml is not (UTF-8 text|valid TOML)"):
        load_brands(tmp_path / "bin.toml")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("@Apple please fix the iPhone battery", Mention("apple", "apple", [(0, 6), (22, 28)])),
        ("my IPHONE died, thanks #apple", Mention("apple", "iphone", [(3, 9), (23, 29)])),
        ("$AAPL down 3% today", Mention("apple", "$aapl", [(0, 5)])),
        ("Apple's new store", Mention("apple", "apple", [(0, 5)])),  # an apostrophe ends the word
        ("pineapple juice and snapple", None),  # word boundaries
        ("apples are fruit", None),
        ("iphones everywhere", None),
        ("", None),
        ("Ïphone 6 is out", Mention("apple", "iphone", [(0, 6)])),  # any accents
    ],
)
def test_a_brand_is_found_through_any_alias_on_word_boundaries(text, expected):
    assert find_mention(text, "apple", APPLE) == expected


def test_the_target_is_the_alias_of_the_first_occurrence_the_longest_at_a_tie():
    aliases = ["watch", "apple", "apple watch"]
    got = find_mention("My Apple Watch broke; apple, fix it", "apple", aliases)
    assert got == Mention("apple", "apple watch", [(3, 14), (22, 27)])  # overlapping spans merged
    assert find_mention("the watch from apple", "apple", aliases).target == "watch"


def test_aliases_mode_finds_every_brand_and_post_brand_mode_the_posts_own():
    config = MentionConfig("aliases", {"united": ("united", "@united"), "delta": ("delta",)})
    text = "Switched from @united to @delta, best decision ever"
    assert config.mentions(text) == [
        Mention("delta", "delta", [(25, 31)]),
        Mention("united", "united", [(14, 21)]),
    ]
    assert config.mentions("a quiet day") == [] and config.mentions("   ") == [] and config.mentions(None) == []
    own = MentionConfig("post_brand", {"united": ("united", "@united")})
    assert own.mentions(text, "united") == [Mention("united", "united", [(14, 21)])]
    # a brand the file does not list is found by its name; not found: its name, no spans
    assert own.mentions(text, "Delta") == [Mention("Delta", "Delta", [(25, 31)])]
    assert own.mentions("great flight", "delta") == [Mention("delta", "delta", [])]
    assert own.mentions(text, None) == []


def test_the_fingerprint_changes_with_the_mode_the_brands_their_aliases_and_the_matching(monkeypatch):
    a = MentionConfig("aliases", {"apple": ("apple", "iphone")})
    assert MentionConfig.from_json(a.to_json()) == a
    assert a.fingerprint == MentionConfig("aliases", {"apple": ("apple", "iphone")}).fingerprint
    others = [
        MentionConfig("aliases", {"apple": ("apple", "iphone", "ipad")}),
        MentionConfig("aliases", {"apple": ("apple", "iphone"), "samsung": ("samsung",)}),
        MentionConfig("post_brand", {"apple": ("apple", "iphone")}),
        MentionConfig("post_brand"),
    ]
    assert len({a.fingerprint, *(o.fingerprint for o in others)}) == 5
    # so does a change in how aliases match: stores re-match their posts under the new rules
    today = a.fingerprint
    monkeypatch.setattr(brands, "MATCHING_VERSION", brands.MATCHING_VERSION + 1)
    assert a.fingerprint != today
    with pytest.raises(ValueError, match="unknown mention mode"):
        MentionConfig("every")
    with pytest.raises(ValueError, match="needs at least one brand"):
        MentionConfig("aliases")
