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
