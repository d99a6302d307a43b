"""The retrain job as a plain function: train, compare, promote or reject, baseline, record.

No Dagster here: the job calls :func:`retrain` with the warehouse, the registry, the model's
config, the trigger (the failing check, partition and run) and the time.
"""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelmon_dagster.baseline import write_version_baseline
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.registry import Registry, TimeWindow, Trigger, next_version_name
from modelmon_dagster.registry.serving import publish_serving_plan
from modelmon_dagster.remediation.gate import GateDecision, decide, paired_test
from modelmon_dagster.stats.paired import PairedTest
from modelmon_dagster.stats.performance import performance_metrics
from modelmon_dagster.training.artifacts import (
    Predictions,
    artifact_dir,
    load_model,
    save_model,
)
from modelmon_dagster.training.contract import TrainingSet, default_trainer, resolve_trainer
from modelmon_dagster.training.data import feature_frame, load_labelled, split_by_time, target

PROMOTED, REJECTED, SKIPPED = "promoted", "rejected", "skipped"


@dataclass(frozen=True)
class RetrainOutcome:
    """What a retrain did.

    Attributes
    ----------
    status : str
        ``promoted`` (the challenger serves now), ``rejected`` (registered, kept with the
        reason) or ``skipped`` (nothing trained: too few labelled rows, one class only).
    reason : str
        Why, in one sentence (also the registry event's reason).
    version : str, optional
        The challenger's version (None when skipped).
    champion_before, champion_after : str, optional
        The champion before and after.
    training_window, holdout_window : TimeWindow, optional
        Prediction-time windows of the training rows and of the later holdout.
    training_rows, holdout_rows, compared_rows : int
        Labelled rows used to train, held out, and compared with the champion (the holdout
        rows the champion served).
    test : PairedTest, optional
        The gate's paired test.
    baseline_id : str, optional
        The promoted version's baseline (built from its holdout).
    metrics : dict
        Training and holdout metrics of the challenger (as stored in the registry).
    """

    model_name: str
    status: str
    reason: str
    version: str | None = None
    champion_before: str | None = None
    champion_after: str | None = None
    training_window: TimeWindow | None = None
    holdout_window: TimeWindow | None = None
    training_rows: int = 0
    holdout_rows: int = 0
    compared_rows: int = 0
    test: PairedTest | None = None
    baseline_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def _window(rows: pd.DataFrame) -> TimeWindow | None:
    if rows.empty:
        return None
    ts = pd.to_datetime(rows["ts"])
    return TimeWindow(ts.min().to_pydatetime(), ts.max().to_pydatetime())


def _metrics(model: ModelConfig, rows: pd.DataFrame, predictions: Predictions) -> dict:
    values = performance_metrics(
        model,
        target(model, rows),
        predictions.prediction,
        predictions.score if model.task.value == "binary_classification" else None,
    )
    return {k: float(v) for k, v in values.items()}


def _as_served(model: ModelConfig, rows: pd.DataFrame, predictions: Predictions) -> pd.DataFrame:
    """Holdout rows with the challenger's outputs in place of the logged ones (its baseline)."""
    out = rows.copy()
    if model.task.is_classification:
        out["prediction_label"] = predictions.prediction
        out["score"] = predictions.score
    else:
        out["prediction_value"] = predictions.prediction
    return out


def _enough(model: ModelConfig, train: pd.DataFrame, settings) -> str | None:
    """Why the rows cannot train a model, or None."""
    if len(train) < settings.min_training_rows:
        return (
            f"{len(train)} labelled training rows, fewer than min_training_rows "
            f"{settings.min_training_rows}"
        )
    if model.task.is_classification and train["label_text"].nunique() < 2:
        return "the training rows hold a single class"
    return None


def retrain(
    warehouse,
    registry: Registry,
    model: ModelConfig,
    trigger: Trigger,
    now: dt.datetime,
    *,
    data_dir: Path,
) -> RetrainOutcome:
    """Train a challenger on the recent labelled window, gate it against the champion, record.

    Steps: read the ok predictions of the ``window_hours`` before ``now`` with the labels that
    had arrived by ``now``; hold out the latest ``holdout_fraction`` by prediction time; train
    with the model's trainer; save the artifact under ``{data_dir}/models/{model}/{version}``;
    register it as the challenger; compare it with the champion on the holdout rows the
    champion served, with a paired test on its *logged* outputs; promote if better at
    ``alpha`` and by ``margin`` (building the version's baseline from its holdout first, so its
    first served hour is judged against it), else reject it with the reason. A promotion
    republishes the serving plan.

    Parameters
    ----------
    warehouse : Warehouse
        Raw predictions and labels are read here; the new baseline is written here.
    registry : Registry
        Where the challenger is registered and the decision recorded.
    model : ModelConfig
        The model (``model.remediation.training`` and ``.evaluation`` are the settings).
    trigger : Trigger
        Who or what asked (check, partition, severity, rule, run id); every registry event
        of this retrain carries it, with the decision as its reason.
    now : datetime
        The retrain time (naive UTC; a simulated hour in the demo).
    data_dir : Path
        The data folder: artifacts and the serving plan go under it.

    Returns
    -------
    RetrainOutcome
    """
    settings, evaluation = model.remediation.training, model.remediation.evaluation
    window = TimeWindow(now - dt.timedelta(hours=settings.window_hours), now)
    frame = load_labelled(warehouse, model, window.start, window.end, labels_until=now)
    split = split_by_time(frame, settings.holdout_fraction)
    champion = registry.champion(model.name)
    before = champion.version if champion else None
    base = {
        "model_name": model.name,
        "champion_before": before,
        "champion_after": before,
        "training_window": _window(split.train),
        "holdout_window": _window(split.holdout),
        "training_rows": len(split.train),
        "holdout_rows": len(split.holdout),
    }
    # Before the registry's first activation the config's version serves (a model monitored
    # from its config alone never registered one): the challenger must beat what it logged.
    serving = champion.version if champion else model.baseline.model_version
    compared = split.holdout[split.holdout["model_version"] == serving]
    problem = _enough(model, split.train, settings)
    if problem is None and len(compared) < settings.min_holdout_rows:
        problem = (
            f"{len(compared)} holdout rows served by the champion, fewer than min_holdout_rows "
            f"{settings.min_holdout_rows}"
        )
    if problem is not None:
        return RetrainOutcome(status=SKIPPED, reason=f"not trained: {problem}", **base)

    trainer_path = settings.trainer or default_trainer(model)
    trainer = resolve_trainer(trainer_path)
    ts = pd.to_datetime(split.train["ts"]).to_numpy()
    X = feature_frame(model.features, split.train)
    estimator = trainer(TrainingSet(model, X, target(model, split.train), ts, settings.seed))
    version = next_version_name([v.version for v in registry.versions(model.name)])
    uri = save_model(
        artifact_dir(data_dir, model.name, version),
        estimator,
        model,
        trainer_path,
        {"version": version, "trained_at": now.isoformat()},
    )
    served = load_model(uri)  # what a server will load: test the saved artifact, not memory
    training_metrics = {"rows": len(split.train)} | _metrics(
        model, split.train, served.predict(split.train)
    )
    registry.register(
        model.name,
        uri,
        trigger,
        now,
        version=version,
        trainer=trainer_path,
        training_window=base["training_window"],
        holdout_window=base["holdout_window"],
        training_metrics=training_metrics,
    )
    registry.set_challenger(model.name, version, trigger, now)

    holdout_predictions = served.predict(split.holdout)
    metric = model.remediation.metric_for(model.task.value)
    decision = _gate(model, metric, compared, served, evaluation)
    evaluation_metrics = {
        "holdout": _metrics(model, split.holdout, holdout_predictions),
        "gate": {"metric": metric, "alpha": evaluation.alpha, "margin": evaluation.margin}
        | ({"test": decision.test.as_dict()} if decision.test else {}),
        "compared_rows": len(compared),
        "champion": serving,  # the version compared with (the config's before any activation)
    }
    metrics = {"training": training_metrics, **evaluation_metrics}
    base |= {"version": version, "compared_rows": len(compared), "test": decision.test}
    if not decision.promote:
        reason = f"rejected {version}: {decision.reason}"
        registry.annotate(model.name, version, trigger, now, evaluation_metrics=evaluation_metrics)
        registry.reject(model.name, version, trigger.because(reason), now)
        return RetrainOutcome(status=REJECTED, reason=reason, metrics=metrics, **base)
    baseline_id = write_version_baseline(
        warehouse, model, version, _as_served(model, split.holdout, holdout_predictions)
    )
    reason = f"promoted {version} over {serving}: {decision.reason}"
    registry.annotate(
        model.name,
        version,
        trigger,
        now,
        evaluation_metrics=evaluation_metrics,
        baseline_id=baseline_id,
    )
    registry.promote(model.name, version, trigger.because(reason), now)
    publish_serving_plan(registry, model.name, data_dir)
    base |= {"champion_after": version, "baseline_id": baseline_id}
    return RetrainOutcome(status=PROMOTED, reason=reason, metrics=metrics, **base)


def _gate(model, metric, compared, served, evaluation) -> GateDecision:
    try:
        test = paired_test(model, metric, compared, served.predict(compared))
    except ValueError as exc:  # e.g. a holdout without both classes: no evidence either way
        return GateDecision(
            False,
            f"cannot compare on the holdout: {exc}",
            None,
            evaluation.alpha,
            evaluation.margin,
        )
    if not np.isfinite(test.improvement):
        return GateDecision(
            False,
            "the improvement is undefined on the holdout",
            test,
            evaluation.alpha,
            evaluation.margin,
        )
    return decide(test, evaluation.alpha, evaluation.margin)
