"""Accuracy of the shipped text model against the usual alternatives, on the same test splits.

    python benchmarks/text_peers_accuracy.py [--model DIR] [--data ../shared/data] [--imdb-n 5000] [--json]

Peers: VADER (compound >= 0.05 positive, <= -0.05 negative, else neutral: the authors'
thresholds), TextBlob (polarity > 0 positive, < 0 negative, else neutral) and TF-IDF
(word 1-2 grams) + logistic regression trained on the same training data as our
text model (TweetEval train + the seeded 14,000 IMDB train reviews of its last stage,
which include the 6,000 of its first), C chosen on TweetEval val.
Test splits are only scored, never used to choose anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sentiment_fusion.data import read_dataset
from sentiment_fusion.evaluation import predict_probabilities
from sentiment_fusion.metrics import classification_report, restrict_to_classes
from sentiment_fusion.runtime import Analyzer


def vader_probs(texts):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sia = SentimentIntensityAnalyzer()
    out = np.zeros((len(texts), 3))
    for i, t in enumerate(texts):
        s = sia.polarity_scores(t)
        out[i] = [s["neg"], s["neu"], s["pos"]]
        c = s["compound"]
        out[i, 0 if c <= -0.05 else 2 if c >= 0.05 else 1] += 10  # thresholded decision, scores as tie-break for binary
    return out


def textblob_probs(texts):
    from textblob import TextBlob

    out = np.zeros((len(texts), 3))
    for i, t in enumerate(texts):
        p = TextBlob(t).sentiment.polarity
        out[i] = [max(-p, 0), 1 - abs(p), max(p, 0)]
        out[i, 0 if p < 0 else 2 if p > 0 else 1] += 10
    return out


def tfidf_lr(train_texts, train_y, val_texts, val_y):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000)
    x = vec.fit_transform(train_texts)
    xv = vec.transform(val_texts)
    best = None
    for c in (0.5, 1.0, 2.0, 4.0):
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, train_y)
        score = classification_report(np.asarray(val_y), model.predict(xv))["macro_recall"]
        if best is None or score > best[0]:
            best = (score, c, model)
    _, c, model = best

    def predict(texts):
        probs = np.zeros((len(texts), 3))
        probs[:, model.classes_] = model.predict_proba(vec.transform(texts))
        return probs

    return predict, c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument(
        "--imdb-n", type=int, default=5000, help="seeded random IMDB test reviews to score (all 25,000 is slow)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    d = args.data
    tweets = d / "tweeteval" / "sentiment"
    train = read_dataset(f"tweeteval:{tweets}:train")
    val = read_dataset(f"tweeteval:{tweets}:val")
    imdb_train = read_dataset(f"imdb:{d}/imdb/aclImdb_v1.tar.gz:train")
    rng = np.random.default_rng(13)
    imdb_keep = np.sort(rng.choice(len(imdb_train.examples), 14000, replace=False))
    train_texts = [e.text for e in train.examples] + [imdb_train.examples[i].text for i in imdb_keep]
    train_y = np.r_[train.labels, imdb_train.labels[imdb_keep]]
    lr_predict, c = tfidf_lr(train_texts, train_y, [e.text for e in val.examples], val.labels)

    analyzer = Analyzer.load(args.model)
    tests = {"tweeteval_test": read_dataset(f"tweeteval:{tweets}:test")}
    imdb_test = read_dataset(f"imdb:{d}/imdb/aclImdb_v1.tar.gz:test")
    keep = np.sort(
        np.random.default_rng(7).choice(
            len(imdb_test.examples), min(args.imdb_n, len(imdb_test.examples)), replace=False
        )
    )
    from dataclasses import replace

    tests["imdb_test_sample"] = replace(imdb_test, examples=[imdb_test.examples[i] for i in keep])
    results = {}
    for name, ds in tests.items():
        texts, y = [e.text for e in ds.examples], ds.labels
        classes = [int(x) for x in ds.classes]
        peers = {
            f"{analyzer.name} {analyzer.version}": predict_probabilities(analyzer, ds, "text"),
            "vader": vader_probs(texts),
            "textblob": textblob_probs(texts),
            f"tfidf+logreg (C={c})": lr_predict(texts),
        }
        results[name] = {}
        for peer, probs in peers.items():
            r = classification_report(y, restrict_to_classes(probs, classes), classes)
            results[name][peer] = {k: r[k] for k in ("n", "accuracy", "macro_recall", "macro_f1", "weighted_f1")}
            print(
                f"{name:>18} {peer:>28}: n={r['n']} accuracy {r['accuracy']:.4f} macro-recall {r['macro_recall']:.4f} "
                f"macro-F1 {r['macro_f1']:.4f}"
            )
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
