"""Shared fixtures: small planted-anomaly data sets (rows and sequences), and
an HTTP server on 127.0.0.1 for the download code."""

import functools
import http.server
import os
import threading

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


def sine_waves(rng, n, n_steps, noise=0.05):
    """``n`` sine waves of one period over ``n_steps`` steps, random phase
    within a small range and amplitude near 1, with a little noise."""
    t = np.linspace(0.0, 2.0 * np.pi, n_steps)
    phase = rng.uniform(0.0, 0.5, size=(n, 1))
    amplitude = rng.uniform(0.9, 1.1, size=(n, 1))
    return amplitude * np.sin(t + phase) + noise * rng.normal(size=(n, n_steps))


@pytest.fixture(scope="module")
def waves():
    """Univariate sequences of 32 steps: 120 normal training waves; a test
    set of 40 normal waves and 30 anomalies (10 with a spike of +2.5, 10 at
    twice the frequency, 10 flattened over a quarter of the wave).

    Returns ``X_train, X_test, y_test`` (1 = anomaly) and the step of each
    anomaly (-1 for normal waves).
    """
    rng = np.random.RandomState(0)
    n_steps = 32
    X_train = sine_waves(rng, 120, n_steps)
    normal = sine_waves(rng, 40, n_steps)
    spikes = sine_waves(rng, 10, n_steps)
    where = rng.randint(4, n_steps - 4, size=10)
    spikes[np.arange(10), where] += 2.5
    t = np.linspace(0.0, 2.0 * np.pi, n_steps)
    fast = np.sin(2.0 * t + rng.uniform(0.0, 0.5, size=(10, 1)))
    fast += 0.05 * rng.normal(size=fast.shape)
    flat = sine_waves(rng, 10, n_steps)
    flat[:, 8:16] = 0.0
    X_test = np.vstack([normal, spikes, fast, flat])
    y_test = np.r_[np.zeros(40), np.ones(30)].astype(int)
    steps = np.r_[np.full(40, -1), where, np.full(20, -1)]
    return X_train, X_test, y_test, steps


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served/."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(served))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()
