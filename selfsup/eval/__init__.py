"""Evaluation of frozen encoders: feature extraction, weighted kNN, linear probe, baselines."""

from selfsup.eval.baselines import evaluate_encoder, random_init_copy, raw_pixel_knn
from selfsup.eval.features import extract_features, preprocess_for_eval, raw_pixel_features
from selfsup.eval.knn import knn_accuracy, knn_classify
from selfsup.eval.linear_probe import (
    DEFAULT_WEIGHT_DECAYS,
    LinearProbeResult,
    linear_probe,
    train_linear_classifier,
)

__all__ = [
    "DEFAULT_WEIGHT_DECAYS",
    "LinearProbeResult",
    "evaluate_encoder",
    "extract_features",
    "knn_accuracy",
    "knn_classify",
    "linear_probe",
    "preprocess_for_eval",
    "random_init_copy",
    "raw_pixel_features",
    "raw_pixel_knn",
    "train_linear_classifier",
]
