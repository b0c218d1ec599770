"""Per-sample gradients (skanomaly.engine._backprop): each sample's own
gradient, for dense and convolutional layers, traced or eager."""

import logging

import numpy as np
import tensorflow as tf
from numpy.testing import assert_allclose

from skanomaly.engine import keras
from skanomaly.engine._backprop import _quiet_loop_warnings, per_sample_gradients

ops = keras.ops


def one_by_one(loss_function, weights, inputs):
    """The reference: a gradient tape per sample, in a Python loop."""
    n = len(inputs[0]) if isinstance(inputs, tuple) else len(inputs)
    out = []
    for i in range(n):
        if isinstance(inputs, tuple):
            sample = tuple(t[i : i + 1] for t in inputs)
        else:
            sample = inputs[i : i + 1]
        with tf.GradientTape() as tape:
            tape.watch(weights)
            loss = tf.reduce_sum(loss_function(weights, sample))
        out.append([g.numpy() for g in tape.gradient(loss, weights)])
    return [np.stack(column) for column in zip(*out)]


def decoder(layer_list, input_shape):
    network = keras.Sequential(layer_list)
    network(np.zeros((1, *input_shape), dtype=layer_list[0].dtype))
    return network


def squared_error(network):
    def loss(weights, batch):
        code, x = batch
        reconstruction, _ = network.stateless_call(weights, [], code)
        return ops.mean(ops.square(reconstruction - x), axis=tuple(range(1, len(x.shape))))

    return loss


def test_dense_gradients_are_each_samples_own():
    rng = np.random.RandomState(0)
    network = decoder(
        [
            keras.layers.Dense(5, activation="tanh", dtype="float64"),
            keras.layers.Dense(4, dtype="float64"),
        ],
        (3,),
    )
    weights = [v.value for v in network.trainable_variables]
    inputs = (tf.constant(rng.normal(size=(7, 3))), tf.constant(rng.normal(size=(7, 4))))
    loss = squared_error(network)
    gradients = per_sample_gradients(loss, weights, inputs)
    assert [tuple(g.shape) for g in gradients] == [(7, 3, 5), (7, 5), (7, 5, 4), (7, 4)]
    for got, expected in zip(gradients, one_by_one(loss, weights, inputs)):
        assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    # The batch's gradient of the mean loss is the mean of the samples'.
    with tf.GradientTape() as tape:
        tape.watch(weights)
        mean = ops.mean(loss(weights, inputs))
    for got, batch in zip(gradients, tape.gradient(mean, weights)):
        assert_allclose(np.mean(got, axis=0), batch, rtol=1e-12, atol=1e-15)


def test_traced_with_an_unknown_batch_size_and_one_sample():
    network = decoder([keras.layers.Dense(3)], (2,))
    loss = squared_error(network)

    @tf.function(input_signature=[tf.TensorSpec((None, 2)), tf.TensorSpec((None, 3))])
    def traced(code, x):
        return per_sample_gradients(loss, [v.value for v in network.trainable_variables], (code, x))

    rng = np.random.RandomState(1)
    code, x = rng.normal(size=(5, 2)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")
    weights = [v.value for v in network.trainable_variables]
    for n in (5, 1):
        got = traced(code[:n], x[:n])
        for g, expected in zip(got, one_by_one(loss, weights, (code[:n], x[:n]))):
            assert_allclose(g, expected, rtol=1e-5, atol=1e-7)


def test_convolutions_without_the_loop_warning(caplog):
    rng = np.random.RandomState(2)
    network = decoder(
        [
            keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same"),
        ],
        (2, 2, 4),
    )
    weights = [v.value for v in network.trainable_variables]
    inputs = (
        tf.constant(rng.normal(size=(4, 2, 2, 4)).astype("float32")),
        tf.constant(rng.normal(size=(4, 8, 8, 1)).astype("float32")),
    )
    loss = squared_error(network)
    with caplog.at_level(logging.WARNING):
        gradients = per_sample_gradients(loss, weights, inputs)
    # The filter gradient of a convolution runs in a loop inside the
    # vectorised map; TensorFlow's warning about it is dropped, and only
    # inside the function.
    assert "while_loop" not in caplog.text
    assert _quiet_loop_warnings not in tf.get_logger().filters
    for got, expected in zip(gradients, one_by_one(loss, weights, inputs)):
        assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_weights_the_loss_does_not_use_get_zeros():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    used, unused = np.array([1.0, -1.0]), np.array([5.0])
    gradients = per_sample_gradients(lambda w, batch: ops.matmul(batch, w[0]), [used, unused], x)
    assert_allclose(gradients[0], x)
    assert_allclose(gradients[1], np.zeros((2, 1)))


def test_a_scalar_loss_per_batch_of_one():
    # A loss function may return a scalar: each batch holds one sample.
    x = np.arange(6, dtype="float64").reshape(3, 2)
    w = [np.array([0.5, 2.0])]
    gradients = per_sample_gradients(lambda w, batch: ops.sum(ops.matmul(batch, w[0]) ** 2), w, x)
    assert_allclose(gradients[0], 2 * (x @ w[0])[:, None] * x)
