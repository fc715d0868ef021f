"""The 3-line targeted format (``targets:FILE[:train|dev]``) and the ``target`` column of jsonl/csv."""

from __future__ import annotations

import json

import pytest

from helpers.paths import shared_data
from sentiment_fusion.data import parse_spec, read_dataset
from sentiment_fusion.errors import DataFormatError
from sentiment_fusion.labels import Sentiment

DONG_LIKE = (
    "i agree about arafat . they even gave one to $T$ ha .\n"
    "jimmy carter\n"
    "-1\n"
    "$T$ has brought back the female rapper . really ? $T$ is the biggest parody\n"
    "nicki minaj\n"
    "0\n"
    "musicmonday $T$ - do you remember this song ? i love it .\n"
    "britney spears\n"
    "1"  # Dong et al.'s files end without a newline, SemEval's with one
)


def write(tmp_path, text: str, name: str = "train.raw"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_sentence_with_the_target_put_back(tmp_path):
    ds = read_dataset(f"targets:{write(tmp_path, DONG_LIKE)}")
    assert (ds.name, ds.split, len(ds)) == ("targets", "all", 3)
    first, second, third = ds
    assert first.text == "i agree about arafat . they even gave one to jimmy carter ha ."
    assert first.target == "jimmy carter" and first.label is Sentiment.NEGATIVE and first.id == "line:1"
    assert second.text.count("nicki minaj") == 2 and "$T$" not in second.text  # every occurrence
    assert second.label is Sentiment.NEUTRAL and second.id == "line:4"
    assert third.label is Sentiment.POSITIVE and third.meta == {}
    assert ds.label_counts() == {"negative": 1, "neutral": 1, "positive": 1}


def test_trailing_newlines_and_windows_line_ends_read_the_same(tmp_path):
    plain = read_dataset(f"targets:{write(tmp_path, DONG_LIKE, 'a.seg')}")
    windows = write(tmp_path, DONG_LIKE.replace("\n", "\r\n") + "\r\n\n", "b.seg")
    crlf = read_dataset(f"targets:{windows}")
    assert [(e.text, e.target, e.label) for e in plain] == [(e.text, e.target, e.label) for e in crlf]


def test_dev_split_is_a_seeded_tenth_of_the_file_and_disjoint_from_train(tmp_path):
    rows = "".join(f"post {i} about $T$ .\nbrand{i}\n{i % 3 - 1}\n" for i in range(200))
    path = write(tmp_path, rows)
    whole = read_dataset(f"targets:{path}")
    train, dev = read_dataset(f"targets:{path}:train"), read_dataset(f"targets:{path}:dev")
    assert (len(train), len(dev)) == (180, 20)
    assert {e.id for e in train}.isdisjoint(e.id for e in dev)
    assert {e.id for e in train} | {e.id for e in dev} == {e.id for e in whole}
    assert [e.id for e in read_dataset(f"targets:{path}:val")] == [e.id for e in dev]  # same split every time
    assert [e.id for e in dev] != [e.id for e in whole][:20]  # random, not the file's first tenth
    assert parse_spec(f"targets:{path}:validation").split == "dev"
    with pytest.raises(ValueError, match="unknown split 'test' for targets"):
        parse_spec(f"targets:{path}:test")


@pytest.mark.parametrize(
    "text, message",
    [
        ("no placeholder here\nx\n1\n", r":1: the sentence has no \$T\$"),
        ("about $T$\nx\npositive\n", r":3: bad polarity 'positive'"),
        ("about $T$\n\n1\n", ":2: empty target"),
        ("about $T$\nx\n1\nabout $T$\n", "4 lines is not a multiple of 3"),
        ("", "no examples"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, text, message):
    with pytest.raises(DataFormatError, match=message):
        read_dataset(f"targets:{write(tmp_path, text)}")


def test_jsonl_and_csv_target_column_becomes_the_example_target(tmp_path):
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text(
        json.dumps({"text": "Switched from @united to @delta", "target": "@delta", "label": "positive", "day": 1})
        + "\n"
        + json.dumps({"text": "just a post", "label": "neutral"})
        + "\n"
    )
    targeted, plain = read_dataset(str(jsonl))
    assert (targeted.target, targeted.meta) == ("@delta", {"day": 1})
    assert plain.target is None
    csv = tmp_path / "posts.csv"
    csv.write_text("text,target,label\nSwitched from @united to @delta,@united,negative\njust a post,,neutral\n")
    targeted, plain = read_dataset(f"csv:{csv}")
    assert (targeted.target, targeted.label, plain.target, plain.meta) == ("@united", Sentiment.NEGATIVE, None, {})


def test_real_dong2014_twitter_train():
    path = shared_data("targeted", "twitter_dong2014", "train.raw")
    ds = read_dataset(f"targets:{path}")
    assert len(ds) == 6248 and ds.label_counts() == {"negative": 1560, "neutral": 3127, "positive": 1561}
    assert all(e.target and e.target.lower() in e.text.lower() for e in ds)
    dev = read_dataset(f"targets:{path}:dev")
    assert len(dev) == 625 and len(read_dataset(f"targets:{path}:train")) == 6248 - 625
