"""Targets in the runtime: ``predict`` / ``predict_batch`` / ``explain`` with ``targets=``, on a real
bundle with a target component (tests/helpers/target_bundles.py), and ``evaluate`` on targeted data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.target_bundles import require_trained_target, target_bundle_path
from sentiment_fusion.errors import InvalidInputError
from sentiment_fusion.explain import delete
from sentiment_fusion.labels import LABELS
from sentiment_fusion.text.targets import target_spans

UNITED = "Switched from @united to @delta, best decision ever"


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory):
    from sentiment_fusion.runtime import Analyzer

    return Analyzer.load(target_bundle_path(tmp_path_factory), threads=1)


def _vector(scores: dict) -> np.ndarray:
    return np.array([scores[label] for label in LABELS])


def test_targets_in_the_order_given_with_spans_and_not_found(analyzer):
    text = "Delta lost my bag again. #delta @DELTA, and United? fine"
    p = analyzer.predict(text=text, targets=["delta", "KLM", "@united"])
    assert [t.target for t in p.targets] == ["delta", "KLM", "@united"]
    delta, klm, united = p.targets
    assert delta.spans == [(0, 5), (25, 31), (32, 38)] and delta.found
    assert [text[a:b] for a, b in delta.spans] == ["Delta", "#delta", "@DELTA"]
    assert klm.spans == [] and not klm.found
    assert [text[a:b] for a, b in united.spans] == ["United"]
    for t in p.targets:
        assert sum(t.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert t.label == max(t.scores, key=t.scores.get)
        assert t.explanation is None
        assert t.to_dict() == {
            "target": t.target,
            "spans": [list(s) for s in t.spans],
            "found": t.found,
            "sentiment": t.sentiment.title,
            "scores": t.scores,
        }
    assert p.to_dict()["targets"] == [t.to_dict() for t in p.targets]
    # the post's own answer does not change when targets are asked for
    assert analyzer.predict(text=text).scores == pytest.approx(p.scores, abs=1e-6)
    assert "targets" not in analyzer.predict(text=text).to_dict() and analyzer.predict(text=text).targets is None


def test_an_empty_target_list_answers_an_empty_list(analyzer):
    p = analyzer.predict(text=UNITED, targets=[])
    assert p.targets == [] and p.to_dict()["targets"] == []


@pytest.mark.slow
def test_a_targeted_pair_scores_the_same_alone_and_in_a_batch_of_32(analyzer):
    rng = np.random.default_rng(0)
    words = "great awful flight delayed again love the crew @delta #united service lost bag thanks".split()
    others = [" ".join(rng.choice(words, size=int(rng.integers(3, 40)))) for _ in range(32)]
    aims = [["Delta", "United"][i % 2 : i % 2 + 1 + i % 3] for i in range(32)]
    alone = analyzer.predict(text=UNITED, targets=["United", "Delta"]).targets
    for place in (0, 17, 32):
        texts = [*others[:place], UNITED, *others[place:]]
        targets = [*aims[:place], ["United", "Delta"], *aims[place:]]
        batch = analyzer.predict_batch(texts, targets=targets)
        inside = batch[place].targets
        assert [t.target for t in inside] == ["United", "Delta"]
        for a, b in zip(alone, inside, strict=True):
            assert np.abs(_vector(a.scores) - _vector(b.scores)).max() < 1e-5
            assert a.spans == b.spans and a.label == b.label
        for i, result in enumerate(batch):  # every other post got its own targets, in its order
            assert [t.target for t in result.targets] == targets[i]


def test_bad_targets_fail_their_own_post_with_on_error_return(analyzer):
    posts = ["good flight", "bad flight", "meh flight", "ok flight", "fine flight"]
    targets = [["Delta"], ["x" * 101], "Delta", None, ["Delta"] * 33]
    with pytest.raises(InvalidInputError):  # a bare string for the whole call is the call's shape
        analyzer.predict_batch(posts, targets="Delta", on_error="return")
    targets[2] = [" @ "]
    results = analyzer.predict_batch(posts, targets=targets, on_error="return")
    assert results[0].targets[0].target == "Delta"
    assert isinstance(results[1], InvalidInputError) and results[1].code == "target_too_long"
    assert isinstance(results[2], InvalidInputError) and results[2].code == "invalid_targets"
    assert results[3].targets is None
    assert isinstance(results[4], InvalidInputError) and results[4].code == "too_many_targets"
    with pytest.raises(InvalidInputError, match="post 1") as raised:
        analyzer.predict_batch(posts, targets=targets)
    assert raised.value.code == "target_too_long"
    with pytest.raises(InvalidInputError) as raised:
        analyzer.predict_batch(["x"], targets=[[7]])
    assert raised.value.code == "invalid_targets"


def test_targets_need_the_text(analyzer):
    if "image" not in analyzer.modalities:
        pytest.skip("the bundle reads no images")
    picture = np.full((64, 64, 3), 200, np.uint8)
    (error,) = analyzer.predict_batch([None], [picture], targets=[["Delta"]], on_error="return")
    assert isinstance(error, InvalidInputError) and error.code == "targets_need_text"


def test_a_bundle_without_a_target_component_says_so(tiny_analyzer):
    assert tiny_analyzer.target is None
    with pytest.raises(InvalidInputError) as raised:
        tiny_analyzer.predict(text="great", targets=["Delta"])
    assert raised.value.code == "targets_not_supported"
    assert tiny_analyzer.predict(text="great").targets is None


def test_explain_explains_each_target_by_deleting_words(analyzer):
    text = "Switched from @united to @delta 😍 best decision ever #happy"
    p = analyzer.explain(text=text, targets=["United", "Delta"])
    plain = analyzer.predict(text=text, targets=["United", "Delta"])
    assert p.explanation is not None and p.explanation.label == p.label  # the post's own, as before
    for answer, same in zip(p.targets, plain.targets, strict=True):
        why = answer.explanation
        assert why is not None and why.label == answer.label and why.image is None and why.modalities == {}
        assert np.abs(_vector(answer.scores) - _vector(same.scores)).max() < 1e-5
        assert answer.spans == same.spans == target_spans(text, answer.target)
        assert [text[w.start : w.end] for w in why.words] == [w.text for w in why.words]
        assert [w.text for w in why.words] == [w.text for w in p.explanation.words]  # the same words as the post's
        for w in (max(why.words, key=lambda w: w.weight), why.words[0]):  # a weight is that deletion's drop
            without = analyzer.predict(text=delete(text, [(w.start, w.end)]), targets=[answer.target]).targets[0]
            assert w.weight == pytest.approx(answer.scores[answer.label] - without.scores[answer.label], abs=1e-5)
        assert answer.to_dict()["explanation"] == why.to_dict()
    body = p.to_dict()
    assert [t["explanation"]["label"] for t in body["targets"]] == [t.label for t in p.targets]
    json.dumps(body)  # all JSON


def test_explain_checks_targets_like_predict(analyzer, tiny_analyzer):
    with pytest.raises(InvalidInputError) as raised:
        analyzer.explain(text=UNITED, targets=["x" * 101])
    assert raised.value.code == "target_too_long"
    with pytest.raises(InvalidInputError) as raised:
        tiny_analyzer.explain(text=UNITED, targets=["Delta"])
    assert raised.value.code == "targets_not_supported"
    assert analyzer.explain(text="fine").targets is None


def test_evaluate_scores_the_targeted_answer_where_a_row_names_a_target(analyzer, tmp_path):
    from sentiment_fusion.data import read_dataset
    from sentiment_fusion.evaluation import evaluate, predict_probabilities

    rows = [
        {"id": "a", "text": UNITED, "target": "United", "label": "negative"},
        {"id": "b", "text": UNITED, "target": "Delta", "label": "positive"},
        {"id": "c", "text": "Lovely morning, coffee is great", "label": "positive"},
        {"id": "d", "text": "@apple fix the battery already", "target": "apple", "label": "negative"},
        {"id": "e", "text": "The flight was fine I guess", "label": "neutral"},
    ]
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    dataset = read_dataset(f"jsonl:{data}")
    assert [e.target for e in dataset.examples] == ["United", "Delta", None, "apple", None]
    probs = predict_probabilities(analyzer, dataset, "text")
    for row, got in zip(rows, probs, strict=True):
        if "target" in row:
            want = analyzer.predict(text=row["text"], targets=[row["target"]]).targets[0].scores
        else:
            want = analyzer.predict(text=row["text"]).scores
        assert np.abs(got - _vector(want)).max() < 1e-5, row
    report = evaluate(analyzer, dataset, "text")
    assert report["n"] == 5 and report["targeted"] == 3
    predicted = probs.argmax(axis=1)
    truth = [LABELS.index(row["label"]) for row in rows]
    assert report["accuracy"] == pytest.approx(float(np.mean(predicted == truth)))


def test_evaluate_targeted_data_needs_a_target_component(tiny_analyzer, tmp_path):
    from sentiment_fusion.data import read_dataset
    from sentiment_fusion.evaluation import evaluate

    data = tmp_path / "t.csv"
    data.write_text("text,target,label\nDelta lost my bag,Delta,negative\nnice day,,positive\n")
    with pytest.raises(InvalidInputError, match="1 of 2 examples name a target") as raised:
        evaluate(tiny_analyzer, read_dataset(f"csv:{data}"), "text")
    assert raised.value.code == "targets_not_supported"


@pytest.mark.slow
def test_the_trained_target_model_reads_two_verdicts_in_one_post():
    from sentiment_fusion.runtime import Analyzer

    analyzer = Analyzer.load(require_trained_target(), threads=1)
    text = "Great food but the service was horrible"
    food, service = analyzer.predict(text=text, targets=["food", "service"]).targets
    assert (food.label, service.label) == ("positive", "negative")
    united, delta = analyzer.predict(text=UNITED, targets=["United", "Delta"]).targets
    assert delta.label == "positive"
    assert united.scores["positive"] < delta.scores["positive"]  # left behind: less positive than where one went


@pytest.mark.slow
def test_the_faithfulness_benchmark_has_target_curves(analyzer):
    """benchmarks/explain_faithfulness.py's word curves toward a target, on a few Dong 2014 dev examples."""
    import importlib.util

    from helpers.paths import REPO, shared_data
    from sentiment_fusion.data import read_dataset

    spec = importlib.util.spec_from_file_location("faithfulness", REPO / "benchmarks" / "explain_faithfulness.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data = shared_data("targeted", "twitter_dong2014", "train.raw")
    examples = read_dataset(f"targets:{data}:dev", limit=8).examples
    curves = bench.text_curves(analyzer, [e.text for e in examples], targets=[e.target for e in examples])
    assert set(curves) == {"k=1", "k=2", "k=3"}
    assert curves["k=1"]["n"] == 8
    # the top word's deletion drops the verdict toward the target at least as much as a random one's, on average
    assert curves["k=1"]["top_drop"] >= curves["k=1"]["random_drop"]
