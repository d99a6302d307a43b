"""The training-function contract: what a trainer receives and what it must return.

A trainer is any importable function named in the config as ``"package.module:function"``::

    def my_trainer(data: TrainingSet) -> Estimator: ...

It receives the labelled training rows of the window and returns a *fitted* object with the
scikit-learn estimator interface:

* every model: ``predict(X) -> array`` (class labels as strings, or numbers for regression);
* classifiers also ``predict_proba(X) -> (n, k) array`` and ``classes_`` (the labels of the
  ``k`` columns): binary scores are ``P(positive_class)`` and must be calibrated, because the
  pre-label estimate, the calibration check and the ROC AUC gate read them as probabilities.

``X`` always has one column per configured feature, named by the feature (not ``f_``):
numeric features as float64 with NaN for missing values, categorical features as strings with
``"__missing__"`` for missing values (:func:`modelmon_dagster.training.data.feature_frame`). The
object must pickle with joblib; it is saved with the version and loaded by the serving side.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelmon_dagster.config import ModelConfig, Task

DEFAULT_TRAINERS = {
    Task.BINARY_CLASSIFICATION: "modelmon_dagster.training.trainers:default_classifier",
    Task.MULTICLASS_CLASSIFICATION: "modelmon_dagster.training.trainers:default_classifier",
    Task.REGRESSION: "modelmon_dagster.training.trainers:default_regressor",
}


@dataclass(frozen=True)
class TrainingSet:
    """What a trainer gets.

    Attributes
    ----------
    model : ModelConfig
        The monitored model (task, features, classes, positive class).
    X : DataFrame
        Inputs, one column per feature (see the module notes for types).
    y : numpy.ndarray
        Labels: strings for classifiers, floats for regression.
    ts : numpy.ndarray
        Prediction timestamps of the rows (``datetime64``), oldest first.
    seed : int
        Seed for any randomness (the same data and seed give the same model).
    """

    model: ModelConfig
    X: pd.DataFrame
    y: np.ndarray
    ts: np.ndarray
    seed: int = 0


Trainer = Callable[[TrainingSet], Any]


def default_trainer(model: ModelConfig) -> str:
    """Import path of the generic trainer for the model's task."""
    return DEFAULT_TRAINERS[model.task]


def resolve_trainer(path: str) -> Trainer:
    """Import ``"package.module:function"``.

    Raises
    ------
    ValueError
        When the path is malformed, the module cannot be imported or the attribute is not a
        callable (the message names the path).
    """
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"trainer {path!r}: expected 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"trainer {path!r}: cannot import {module_name!r}: {exc}") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise ValueError(f"trainer {path!r}: {module_name} has no function {attr!r}")
    return func
