"""Shared fixtures: small planted-anomaly data sets."""

import os

import numpy as np
import pytest

# Quiet TensorFlow's start-up logging in test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def planted():
    """Normals from N(0, 1) in 8-d; test anomalies shifted by +4 on every
    feature. Returns ``X_train, X_test, y_test`` with 1 = anomaly."""
    rng = np.random.RandomState(0)
    X_train = rng.normal(size=(300, 8))
    X_test = np.vstack([rng.normal(size=(100, 8)), rng.normal(4.0, 1.0, size=(20, 8))])
    y_test = np.r_[np.zeros(100), np.ones(20)].astype(int)
    return X_train, X_test, y_test
