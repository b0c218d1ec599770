"""Variational autoencoder scored by its ELBO or reconstruction probability."""

import math
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from ..engine import BaseGradientDetector, DetectorNetwork, keras
from ..engine._dense import (
    auto_hidden_units,
    dense_stack,
    resolve_hidden_units,
    validate_hidden_units,
)

layers = keras.layers
ops = keras.ops

#: Log-variances of the encoder and the decoder are clipped to this range:
#: variances from about 0.0025 to 400 times that of a standardised feature.
LOGVAR_BOUND = 6.0
#: ``log(2 * pi)``, a Python float so that it takes the dtype of the tensor
#: it meets (float32 in training, float64 in scoring).
LOG_2PI = math.log(2.0 * math.pi)


class VAENetwork(DetectorNetwork):
    """Dense Gaussian variational autoencoder.

    The encoder maps ``x`` through ``hidden_units`` to the mean and the
    log-variance of ``q(z|x) = N(mu(x), diag(exp(logvar(x))))``. The decoder
    mirrors the encoder and gives the mean of ``p(x|z)``, a Gaussian whose
    per-feature log-variance is a trained weight, so that ``log p(x|z)`` is
    a real log-likelihood.

    Training draws ``z`` by reparameterisation from the network's own seed
    generator. Scoring uses ``n_samples`` fixed standard normal draws,
    stored as a non-trainable weight: the same draws for every sample, so a
    score is deterministic and depends only on its own sample.
    """

    def __init__(
        self,
        n_features,
        hidden_units,
        latent_dim,
        *,
        activation,
        dropout,
        beta,
        score_type,
        n_samples,
    ):
        super().__init__()
        self.beta = beta
        self.score_type = score_type
        self.encoder = dense_stack(hidden_units, activation=activation, dropout=dropout)
        self.z_mean = layers.Dense(latent_dim)
        self.z_logvar = layers.Dense(latent_dim)
        self.decoder = dense_stack(
            hidden_units[::-1], activation=activation, dropout=dropout
        )
        self.x_mean = layers.Dense(n_features)
        self.x_logvar = self.add_weight(
            shape=(n_features,), initializer="zeros", name="x_logvar"
        )
        self.score_noise = self.add_weight(
            shape=(n_samples, latent_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            name="score_noise",
        )
        self.seed_generator = keras.random.SeedGenerator()

    def encode(self, x, training=False):
        """Mean and (clipped) log-variance of ``q(z|x)``."""
        hidden = self.encoder(x, training=training)
        logvar = ops.clip(self.z_logvar(hidden), -LOGVAR_BOUND, LOGVAR_BOUND)
        return self.z_mean(hidden), logvar

    def decode(self, z, training=False):
        """Mean of ``p(x|z)``."""
        return self.x_mean(self.decoder(z, training=training))

    def call(self, x, training=False):
        z_mean, z_logvar = self.encode(x, training=training)
        if training:
            noise = keras.random.normal(
                ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator
            )
            z = z_mean + ops.exp(0.5 * z_logvar) * noise
        else:
            z = z_mean
        return z_mean, z_logvar, self.decode(z, training=training)

    def log_likelihood(self, x, x_mean):
        """``log p(x|z)`` summed over the features, for a decoded mean."""
        logvar = ops.clip(self.x_logvar, -LOGVAR_BOUND, LOGVAR_BOUND)
        logvar = ops.cast(logvar, x_mean.dtype)
        squared = ops.square(x - x_mean) * ops.exp(-logvar)
        return -0.5 * ops.sum(squared + logvar + LOG_2PI, axis=-1)

    def kl_divergence(self, z_mean, z_logvar):
        """``KL(q(z|x) || N(0, I))``, summed over the latent dimensions."""
        terms = ops.exp(z_logvar) + ops.square(z_mean) - 1.0 - z_logvar
        return 0.5 * ops.sum(terms, axis=-1)

    def expected_log_likelihood(self, x, z_mean, z_logvar):
        """Mean of ``log p(x|z_l)`` over the fixed draws ``z_l`` of q(z|x)."""
        noise = ops.cast(self.score_noise, z_mean.dtype)
        n_samples, latent_dim = noise.shape
        # (batch, n_samples, latent_dim): the same draws for every sample,
        # decoded as one batch of batch * n_samples codes.
        z = z_mean[:, None, :] + ops.exp(0.5 * z_logvar)[:, None, :] * noise
        x_mean = self.decode(ops.reshape(z, (-1, latent_dim)), training=False)
        x_mean = ops.reshape(x_mean, (-1, n_samples, x.shape[-1]))
        return ops.mean(self.log_likelihood(x[:, None, :], x_mean), axis=1)

    def detector_loss(self, x, outputs, training):
        z_mean, z_logvar, x_mean = outputs
        if training:
            # One reparameterised draw of z per sample.
            log_lik = self.log_likelihood(x, x_mean)
        else:
            # Validation loss with the fixed scoring draws: deterministic,
            # so early stopping watches minus the ELBO that ``score`` reports.
            log_lik = self.expected_log_likelihood(x, z_mean, z_logvar)
        kl = self.kl_divergence(z_mean, z_logvar)
        return -log_lik + self.beta * kl

    def score(self, x):
        z_mean, z_logvar = self.encode(x, training=False)
        log_lik = self.expected_log_likelihood(x, z_mean, z_logvar)
        if self.score_type == "reconstruction_probability":
            return log_lik
        return log_lik - self.beta * self.kl_divergence(z_mean, z_logvar)


class VAE(BaseGradientDetector):
    """Variational autoencoder anomaly detector.

    A Gaussian encoder ``q(z|x)`` and a Gaussian decoder ``p(x|z)``, whose
    per-feature variance is learned, are trained to maximise the evidence
    lower bound (ELBO) of the (scaled) training data, with the KL term
    weighted by ``beta`` (a beta-VAE). Samples the model finds unlikely are
    anomalous. The score, higher for more normal samples, is set by
    ``score_type``:

    * ``"elbo"``: the ELBO, ``E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I))``;
    * ``"reconstruction_probability"`` (An & Cho, 2015): ``E_q[log p(x|z)]``,
      the log-likelihood of ``x`` under the decoder averaged over codes
      drawn from ``q(z|x)``.

    The expectation over ``q(z|x)`` is a Monte-Carlo mean over ``n_samples``
    standard normal draws made once, when the network is created, and used
    for every sample, so that scores are deterministic and each depends
    only on its own sample.

    Parameters
    ----------
    hidden_units : "auto" or sequence of int, default="auto"
        Widths of the encoder's hidden layers; the decoder mirrors them.
        ``(64, 32)`` with ``latent_dim=4`` gives
        ``n_features -> 64 -> 32 -> 4 -> 32 -> 64 -> n_features``.
        ``"auto"`` uses one hidden layer about as wide as the input (16 to
        128 units).
    latent_dim : int >= 1 or None, default=None
        Dimension of the latent code ``z``. ``None`` uses about
        ``sqrt(n_features)`` (2 to 32).
    activation : str, default="relu"
        Activation of the hidden layers (any Keras name).
    dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden layer, during training only.
    beta : float >= 0, default=1.0
        Weight of the KL term in the training loss and in the ``"elbo"``
        score: ``1`` is the plain VAE, larger values a beta-VAE with a more
        regular latent space, ``0`` an autoencoder with noisy codes.
    score_type : {"elbo", "reconstruction_probability"}, default="elbo"
        The normality score, see above.
    n_samples : int >= 1, default=10
        Draws of ``z`` per sample in the Monte-Carlo estimate of the score.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (a ``VAENetwork``).

    See Also
    --------
    AutoEncoder : Deterministic autoencoder scored by reconstruction error.
    DeepSVDD : Deep one-class classification.
    sklearn.ensemble.IsolationForest : A classical baseline.

    References
    ----------
    .. [1] D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes",
       ICLR 2014.
    .. [2] J. An and S. Cho, "Variational Autoencoder based Anomaly Detection
       using Reconstruction Probability", SNU Data Mining Center, 2015.
    .. [3] I. Higgins et al., "beta-VAE: Learning Basic Visual Concepts with
       a Constrained Variational Framework", ICLR 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import VAE
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> detector = VAE(epochs=5, random_state=0).fit(X)
    >>> detector.predict([[0.0] * 5, [8.0] * 5])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "hidden_units": ["array-like", str],
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "activation": [str],
        "dropout": [Interval(Real, 0.0, 1.0, closed="left")],
        "beta": [Interval(Real, 0.0, None, closed="left")],
        "score_type": [StrOptions({"elbo", "reconstruction_probability"})],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_units="auto",
        *,
        latent_dim=None,
        activation="relu",
        dropout=0.0,
        beta=1.0,
        score_type="elbo",
        n_samples=10,
        **params,
    ):
        self.hidden_units = hidden_units
        self.latent_dim = latent_dim
        self.activation = activation
        self.dropout = dropout
        self.beta = beta
        self.score_type = score_type
        self.n_samples = n_samples
        super().__init__(**params)

    def _build_network(self, sample_shape):
        validate_hidden_units(self.hidden_units)
        (n_features,) = sample_shape
        auto_hidden, auto_latent = auto_hidden_units(n_features)
        if isinstance(self.hidden_units, str):  # "auto", checked above
            hidden_units = (auto_hidden,)
        else:
            hidden_units = resolve_hidden_units(self.hidden_units, n_features)
        return VAENetwork(
            n_features,
            hidden_units,
            auto_latent if self.latent_dim is None else int(self.latent_dim),
            activation=self.activation,
            dropout=self.dropout,
            beta=float(self.beta),
            score_type=self.score_type,
            n_samples=int(self.n_samples),
        )
