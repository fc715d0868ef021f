import pytest

from sentiment_fusion.text.normalize import TextNormalizer


@pytest.fixture
def norm():
    return TextNormalizer()


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("@JohnDoe thanks!", "@user thanks!"),
        ("see https://t.co/abc123 and www.example.com/x", "see http and http"),
        ("#HappyBirthdayRemusLupin", "Happy Birthday Remus Lupin"),
        ("#iphone6 rocks", "iphone 6 rocks"),
        ("sooooo goooood!!!!", "soo good!!"),
        ("Great film.<br /><br />Loved it &amp; more", "Great film. Loved it & more"),
        ("<i>italic</i> words", "italic words"),
        ("I am happy :) and sad :(", "I am happy smiling and sad sad"),
        ("<3 you", "love you"),
        ("so funny 😂😂😂", "so funny face with tears of joy face with tears of joy"),
        ("   spaced\n\tout  ", "spaced out"),
        ("meh \x00 😡\x07", "meh enraged face"),  # a NUL must not collide with the emoji-name markers
        ("family 👨\u200d👩\u200d👧 day", "family family man woman girl day"),  # ZWJ sequences stay whole
    ],
)
def test_normalize_social_media(norm, raw, expected):
    assert norm(raw) == expected


def test_email_is_not_a_mention(norm):
    assert norm("mail me at bob@example.com") == "mail me at bob@example.com"


def test_non_english_and_empty_pass_through(norm):
    assert norm("¡Qué día tan bonito! 今日は") == "¡Qué día tan bonito! 今日は"
    assert norm("") == ""
    assert norm("   ") == ""


def test_blank_means_nothing_to_read():
    from sentiment_fusion.text.normalize import is_blank

    for blank in (
        "",
        " \n\t",
        "\u200b",
        "\ufeff\u2060\u200e",
        "\x00\x1f",
        "\ufffd",
        "\u3000",
        "\u0301",
        "\ufe0f",
        "\ue000",
        "\u2800\u3164",
    ):
        assert is_blank(blank), repr(blank)
    for text in ("a", " ok ", "😡", "\u200bhi", "١", "e\u0301", "❤\ufe0f", "한"):
        assert not is_blank(text), repr(text)


def test_lowercase_option_and_config_round_trip():
    norm = TextNormalizer(lowercase=True, urls=None, max_repeat=0)
    assert norm("HELLO http://x.y") == "hello http://x.y"
    assert TextNormalizer.from_config(norm.to_config()) == norm


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="max_repeat"):
        TextNormalizer(max_repeat=-1)
    with pytest.raises(ValueError, match="unknown TextNormalizer settings"):
        TextNormalizer.from_config({"shout": True})
    with pytest.raises(TypeError):
        TextNormalizer().normalize(3)


def _normalize_at_once(k: int, texts: list[str], start, results: dict) -> None:
    start.wait()
    results[k] = TextNormalizer().normalize_batch(texts)


def test_emoji_read_the_same_when_threads_normalize_at_once(monkeypatch):
    """The emoji package builds its search tree lazily, into a module global, on first use; a
    thread that demojized while another was building it read a half-built tree and left emoji
    untranslated (the runtime's workers normalize side by side: 1 of 1,300 texts was scored
    differently on a process's first call). The tree is now built once, under a lock."""
    import threading

    import emoji.tokenizer

    from sentiment_fusion.text import normalize

    texts = [f"{e}It's about time{e} post {i}" for i, e in enumerate(["🚨", "💥", "😍", "🙏🏽", "👩‍💻", "🇫🇷"] * 20)]
    expected = TextNormalizer().normalize_batch(texts)
    for _ in range(5):
        monkeypatch.setattr(emoji.tokenizer, "_SEARCH_TREE", {})  # as in a fresh process
        normalize._emoji_with_search_tree.cache_clear()
        results: dict[int, list[str]] = {}
        start = threading.Barrier(8)
        threads = [threading.Thread(target=_normalize_at_once, args=(k, texts, start, results)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(results[k] == expected for k in range(8))
