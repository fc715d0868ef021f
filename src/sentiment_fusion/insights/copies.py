"""Copies of one post (retweets, copy-paste campaigns) as SQL: what counts as the same text.

Two posts are copies when their normalized texts are equal: lowercased, a leading ``RT @user:``
dropped, links and @mentions dropped, spacing folded, surrounding punctuation trimmed. So
``RT @TeamCavuto: Protesters stage #DieIn ...`` and the original ``Protesters stage #DieIn ...``
are one text. Written once, in SQL, so that trends (unique texts per period) and alert drivers
(the most repeated texts) count the same way.
"""

from __future__ import annotations


def copy_key_sql(column: str = "text") -> str:
    """SQL: the normalized text of ``column`` ('' for a post without text)."""
    text = f"lower(coalesce({column}, ''))"
    text = rf"regexp_replace({text}, '^\s*rt\s+@\w+\s*:?\s*', '')"
    text = rf"regexp_replace({text}, '(https?://|www\.)\S+', ' ', 'g')"
    text = rf"regexp_replace({text}, '@\w+', ' ', 'g')"
    text = rf"regexp_replace({text}, '\s+', ' ', 'g')"
    return f"trim({text}, ' .,:;!?-')"


def retweet_sql(column: str = "text") -> str:
    """SQL: whether ``column`` is a retweet (starts with ``RT @user``)."""
    return rf"regexp_matches(lower(coalesce({column}, '')), '^\s*rt\s+@\w+')"


def unique_texts_sql(column: str = "text") -> str:
    """SQL aggregate: distinct normalized texts (posts without text not counted)."""
    return f"count(DISTINCT NULLIF({copy_key_sql(column)}, ''))"
