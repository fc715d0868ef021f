import numpy as np
import pytest
import torch
from torch import nn

from sentiment_fusion.training.checkpoints import read_weights
from sentiment_fusion.training.trainer import TrainData, Trainer, TrainingArguments, batch_order


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 3)

    def forward(self, x):
        return self.layer(x)


def separable(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[-2, 0], [0, 2], [2, 0]], dtype=np.float32)
    x = centers[y] + rng.normal(scale=0.3, size=(n, 2)).astype(np.float32)
    return TrainData(list(x), y)


def collate(items):
    return {"x": torch.from_numpy(np.stack(items))}


def args(tmp_path, **kw):
    return TrainingArguments(output_dir=tmp_path, epochs=3, batch_size=16, learning_rate=0.05, progress=False, **kw)


def test_learns_a_separable_problem_and_keeps_the_best(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(Linear(), args(tmp_path), separable(), separable(seed=1), collate)
    result = trainer.train()
    assert result.best_metrics["accuracy"] > 0.95
    assert len(result.history) == 3 and (tmp_path / "best.pt").exists()
    final = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["model"]
    last = read_weights(tmp_path / "last.pt")["state_dict"]  # the final weights, whichever epoch was best
    for key, value in final.items():
        torch.testing.assert_close(last[key], value)


class Crash(Exception):
    pass


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path):
    torch.manual_seed(0)
    full = Trainer(Linear(), args(tmp_path / "full"), separable(), separable(seed=1), collate)
    full.train()

    calls = {"n": 0}

    def crashing_collate(items):
        calls["n"] += 1
        if calls["n"] == 27:  # mid-epoch 2, two steps after the checkpoint at step 25
            raise Crash
        return collate(items)

    torch.manual_seed(0)
    with pytest.raises(Crash):
        Trainer(
            Linear(), args(tmp_path / "cut", checkpoint_steps=5), separable(), separable(seed=1), crashing_collate
        ).train()
    Trainer(Linear(), args(tmp_path / "cut", checkpoint_steps=5), separable(), separable(seed=1), collate).train()
    ckpt_full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    ckpt_cut = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert ckpt_cut["state"]["global_step"] == ckpt_full["state"]["global_step"] == 57
    assert ckpt_cut["state"]["history"] == ckpt_full["state"]["history"]
    for key, value in ckpt_full["model"].items():
        torch.testing.assert_close(ckpt_cut["model"][key], value)


def test_length_bucketing_groups_similar_lengths():
    lengths = np.arange(1000)
    batches = batch_order(1000, 10, 0, lengths)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spreads = [lengths[b].max() - lengths[b].min() for b in batches]
    assert np.median(spreads) < 50  # vs ~900 for random batches


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingArguments(output_dir=tmp_path, learning_rate=0)
    with pytest.raises(ValueError, match="select_metric"):
        TrainingArguments(output_dir=tmp_path, select_metric="auc")
    with pytest.raises(ValueError, match="items but"):
        TrainData([1, 2], np.array([0]))


def test_a_checkpoint_of_another_run_is_refused_not_resumed(tmp_path):
    Trainer(Linear(), args(tmp_path, max_steps=3), separable(), separable(seed=1), collate).train()
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match="other settings or data \\(they differ in learning_rate\\)"):
        Trainer(
            Linear(),
            TrainingArguments(
                output_dir=tmp_path, epochs=3, batch_size=16, learning_rate=0.01, progress=False, max_steps=3
            ),
            separable(),
            separable(seed=1),
            collate,
        ).train()
    with pytest.raises(ValueError, match="differ in labels_sha256, n_train"):
        Trainer(Linear(), args(tmp_path, max_steps=3), separable(n=200), separable(seed=1), collate).train()

    class Wider(Linear):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(2, 5)

    with pytest.raises(ValueError, match="holds another model's weights"):
        Trainer(Wider(), args(tmp_path, max_steps=3), separable(), separable(seed=1), collate).train()
    assert (tmp_path / "checkpoint.pt").read_bytes() == before  # nothing overwritten
    Trainer(
        Linear(), args(tmp_path, max_steps=3, eval_steps=1), separable(), separable(seed=1), collate
    ).train()  # same run


def test_no_training_examples_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no training examples"):
        Trainer(Linear(), args(tmp_path), TrainData([], np.array([], dtype=np.int64)), separable(), collate)


def test_init_from_must_be_a_weights_file_or_a_bundle(tmp_path):
    from sentiment_fusion.errors import BundleError
    from sentiment_fusion.training.starting_point import starting_point

    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match=r"list\.pt is not a weights file written by the trainer .*holds a list"):
        starting_point(tmp_path / "list.pt")
    with pytest.raises(BundleError, match="is not a model bundle"):
        starting_point(tmp_path)
    torch.save(Linear().state_dict(), tmp_path / "ok.pt")  # an older run's bare state dict: weights only
    start = starting_point(tmp_path / "ok.pt")
    assert start.provenance["path"] == str(tmp_path / "ok.pt") and start.architecture is None
    assert set(start.model(fallback=Linear()).state_dict()) == {"layer.weight", "layer.bias"}
