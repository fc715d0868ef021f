"""The tail every recipe shares: calibrate on validation -> score -> export -> the component record."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from ..calibration import calibrated_metrics, fit_temperature
from ..component import Component
from .trainer import TrainData, Trainer

log = logging.getLogger(__name__)


def finish_component(
    trainer: Trainer,
    val: TrainData,
    classes: Sequence[int],
    *,
    bundle_dir: str | Path,
    kind: str,
    files: dict[str, str],
    validation: dict,
    export: Callable[[float, dict], dict | None],
    **record,
) -> Component:
    """Fit the temperature on ``val``'s logits (the selected model's), score the calibrated model on
    ``val``, call ``export(temperature, metrics)`` to write ``files`` (role -> path in ``bundle_dir``;
    it may return more record fields), and return the component. ``validation`` names the data the
    metrics row was measured on (``{"data": spec, ...}``)."""
    logits = trainer.predict_logits(val)
    temperature = fit_temperature(logits, val.labels)
    metrics = calibrated_metrics(logits, val.labels, temperature, classes)
    log.info(
        "%s validation (calibrated, T=%.3f): %s",
        kind,
        temperature,
        {k: metrics[k] for k in ("n", "accuracy", "macro_recall", "weighted_f1", "ece")},
    )
    exported = export(temperature, metrics) or {}
    row = {
        "data": validation["data"],
        "split": "validation",
        "runtime": "pytorch",
        **{k: v for k, v in validation.items() if k != "data"},
        **metrics,
    }
    return Component.from_files(bundle_dir, kind, files, temperature=temperature, metrics=[row], **record, **exported)
