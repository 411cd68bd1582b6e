"""Evaluating trained models: metrics on a data set, parity plots, error histograms, reports."""

from .evaluate import evaluate

__all__ = ["evaluate"]
