"""GradCon: backpropagated gradients as representations for anomaly
detection (Kwon, Prabhushankar, Temel and AlRegib, ECCV 2020), for rows of
features and for images."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ..engine import (
    BaseGradientDetector,
    DetectorNetwork,
    ImageInput,
    keras,
    sum_over_replicas,
)
from ..engine._backprop import per_sample_gradients
from ..engine._conv import ConvNetwork, ReconstructionImageNetwork, conv_decoder, conv_encoder
from ..engine._dense import dense_stack, resolve_hidden_units, validate_hidden_units
from ..engine._devices import per_replica
from ..engine._network import trimmed_mean

layers = keras.layers
ops = keras.ops

#: Keeps a cosine finite where a gradient, or the average, is zero.
EPSILON = 1e-12

#: The losses a training step logs, each averaged over the epoch (and on
#: the held-out samples, as ``val_...``).
LOSSES = ("loss", "reconstruction_loss", "gradient_loss")


def _cosines(gradients, average):
    """Cosine similarity of each of ``gradients`` (``(n, *shape)``) with
    ``average`` (``shape``), over all their entries: ``(n,)``."""
    axes = tuple(range(1, len(gradients.shape)))
    dot = ops.sum(gradients * average, axis=axes)
    norms = ops.sum(ops.square(gradients), axis=axes) * ops.sum(ops.square(average))
    # The square root of a clipped product: no infinite derivative at zero.
    return dot / ops.sqrt(ops.maximum(norms, EPSILON**2))


class EncoderDecoder(keras.Model):
    """The autoencoder's two halves, the part its one optimizer trains."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def call(self, x, training=False):
        return self.decoder(self.encoder(x, training=training), training=training)


class GradientConstraint:
    """What GradCon adds to an autoencoder network, for rows and images.

    The network (a :class:`~skanomaly.engine.DetectorNetwork`) holds its
    encoder and decoder in ``self.autoencoder`` (an
    :class:`EncoderDecoder`) and writes ``encode(x, training)``,
    ``decode(code, weights)`` (the reconstruction, with the decoder's
    trainable weights replaced by ``weights``) and
    ``reconstruction_losses(x, reconstruction)`` (one loss a sample).

    The decoder's *kernels* (its weights with more than one axis; the
    biases are left out, as in the authors' code) each have a running average of
    the gradients that the training batches' reconstruction losses gave
    them: non-trainable weights of the network, ``average_gradients``,
    with the number of steps averaged, ``averaged_steps``. The gradient
    loss of a batch is the mean over the kernels of one minus the cosine
    similarity between the batch's gradient and the average of the
    earlier ones (0 at the first step, which has no average yet); the
    training loss is ``reconstruction + gradient_weight * gradient``,
    minimised through the gradients (second derivatives). A sample's score
    is minus its reconstruction loss plus ``gradient_score_weight`` times
    the gradient loss of its own gradient.
    """

    trained_parts = ("autoencoder",)

    def _init_constraint(self, gradient_weight, gradient_score_weight):
        self.gradient_weight = gradient_weight
        self.gradient_score_weight = gradient_score_weight
        self.trackers = [keras.metrics.Mean(name=name) for name in LOSSES]

    @property
    def metrics(self):
        return list(self.trackers)

    @property
    def decoder(self):
        """The decoder, whose kernels' gradients the constraint reads."""
        return self.autoencoder.decoder

    def _add_averages(self):
        """One running average per decoder kernel, and the step count; the
        decoder must be built."""
        # Updated by hand in train_step, the same on every replica.
        shared = dict(initializer="zeros", trainable=False, aggregation="only_first_replica")
        self.kernel_positions = [
            i for i, w in enumerate(self.decoder.trainable_variables) if len(w.shape) > 1
        ]
        kernels = [self.decoder.trainable_variables[i] for i in self.kernel_positions]
        self.average_gradients = [
            self.add_weight(shape=k.shape, name=f"average_gradient_{i}", **shared)
            for i, k in enumerate(kernels)
        ]
        self.averaged_steps = self.add_weight(shape=(), name="averaged_steps", **shared)

    # ------------------------------------------------------------- losses
    def gradient_loss(self, kernel_gradients):
        """Mean over the kernels of ``1 - cos(gradient, average)``; with
        per-sample gradients (``(n, *shape)`` each), one loss a sample."""
        cosines = [
            _cosines(g, ops.convert_to_tensor(average))
            for g, average in zip(kernel_gradients, self.average_gradients)
        ]
        return 1.0 - sum(cosines) / len(cosines)

    def batch_losses(self, x, training, second_order):
        """The batch's losses (a dict of scalars) and the gradients of its
        reconstruction loss with respect to the decoder's kernels."""
        code = self.encode(x, training=training)
        # Under minimize's tape, the loss and its gradients both stay
        # differentiable with respect to every weight of the autoencoder.
        reconstruction, gradients = self.gradients(
            lambda w: trimmed_mean(
                self.reconstruction_losses(x, self.decode(code, w)),
                self.trim_fraction if training else 0.0,
            ),
            self.current_weights("decoder"),
            second_order=second_order,
        )
        kernels = [gradients[i] for i in self.kernel_positions]
        # No average before the first step: no gradient loss then.
        gradient = ops.where(
            self.averaged_steps > 0,
            self.gradient_loss([g[None] for g in kernels])[0],
            ops.zeros((), reconstruction.dtype),
        )
        losses = {
            "loss": reconstruction + self.gradient_weight * gradient,
            "reconstruction_loss": reconstruction,
            "gradient_loss": gradient,
        }
        return losses, kernels

    def update_averages(self, kernel_gradients):
        """Add a step's gradients to the running averages (means over all
        the steps so far). Under ``tf.distribute`` the replicas' gradients
        (each of its part of the batch) are averaged first, so that every
        copy makes the update of the whole batch."""
        steps = ops.convert_to_tensor(self.averaged_steps)
        for average, gradient in zip(self.average_gradients, kernel_gradients):
            whole_batch = sum_over_replicas(per_replica(ops.stop_gradient(gradient)))
            current = ops.convert_to_tensor(average)
            average.assign(current + (whole_batch - current) / (steps + 1.0))
        self.averaged_steps.assign(steps + 1.0)

    # ----------------------------------------------------------- training
    def _log(self, losses):
        for tracker in self.trackers:
            tracker.update_state(losses[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def train_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        step = {}

        def objective():
            losses, kernels = self.batch_losses(x, training=True, second_order=True)
            step.update(losses, kernels=kernels)
            return losses["loss"]

        self.minimize("autoencoder", objective)
        self.update_averages(step.pop("kernels"))
        return self._log(step)

    def test_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        losses, _ = self.batch_losses(x, training=False, second_order=False)
        return self._log(losses)

    # ------------------------------------------------------------ scoring
    def sample_gradient_losses(self, x):
        """The gradient loss of each sample's own gradient: ``(batch,)``."""
        code = self.encode(x)
        gradients = per_sample_gradients(
            lambda w, batch: self.reconstruction_losses(batch[1], self.decode(batch[0], w)),
            self.current_weights("decoder"),
            (code, x),
        )
        return self.gradient_loss([gradients[i] for i in self.kernel_positions])

    def score(self, x):
        reconstruction = self.reconstruction_losses(x, self(x, training=False))
        return -(reconstruction + self.gradient_score_weight * self.sample_gradient_losses(x))


class GradConNetwork(GradientConstraint, DetectorNetwork):
    """Dense autoencoder with GradCon's gradient constraint (see
    :class:`GradientConstraint`): ``hidden_units`` are the encoder's
    widths, the last one the code; the decoder mirrors them and ends in a
    linear layer as wide as the input. A sample's reconstruction loss is
    its mean squared error over the features."""

    def __init__(self, n_features, hidden_units, *, activation, gradient_weight,
                 gradient_score_weight):
        super().__init__()
        *hidden, code = hidden_units
        encoder = dense_stack([*hidden, code], activation=activation, name="encoder")
        decoder = keras.Sequential(
            [layers.Dense(width, activation=activation) for width in hidden[::-1]]
            + [layers.Dense(n_features)],
            name="decoder",
        )
        self.autoencoder = EncoderDecoder(encoder, decoder, name="autoencoder")
        self._init_constraint(gradient_weight, gradient_score_weight)

    def build(self, input_shape):
        self.autoencoder(ops.zeros((1, *input_shape[1:]), dtype=self.compute_dtype))
        self._add_averages()

    def call(self, x, training=False):
        return self.autoencoder(x, training=training)

    def encode(self, x, training=False):
        return self.autoencoder.encoder(x, training=training)

    def decode(self, code, weights):
        return self.call_with("decoder", weights, code)

    def reconstruction_losses(self, x, reconstruction):
        return ops.mean(ops.square(reconstruction - x), axis=-1)


class ConvGradConNetwork(GradientConstraint, ReconstructionImageNetwork):
    """Convolutional autoencoder with GradCon's gradient constraint (see
    :class:`GradientConstraint`), fully convolutional as the paper's: the
    stride-2 convolutions of :func:`~skanomaly.engine._conv.conv_encoder`
    down to a code feature map, the transposed convolutions of
    :func:`~skanomaly.engine._conv.conv_decoder` back up. A sample's
    reconstruction loss is its mean squared error over the pixels and the
    channels, and its anomaly map the squared error of each pixel."""

    def __init__(self, image_shape, filters, *, kernel_size, activation, gradient_weight,
                 gradient_score_weight):
        super().__init__(image_shape, len(filters))
        conv = dict(kernel_size=kernel_size, activation=activation)
        encoder = conv_encoder(filters, **conv)
        encoder = keras.Sequential(encoder, name="encoder") if encoder else layers.Identity()
        decoder = keras.Sequential(conv_decoder(filters, self.n_channels, **conv), name="decoder")
        self.autoencoder = EncoderDecoder(encoder, decoder, name="autoencoder")
        self._init_constraint(gradient_weight, gradient_score_weight)

    def build(self, input_shape):
        zeros = ops.zeros((1, *input_shape[1:]), dtype=self.compute_dtype)
        self.autoencoder(self.pad(zeros))
        self._add_averages()

    def call(self, x, training=False):
        return self.crop(self.autoencoder(self.pad(x), training=training))

    def encode(self, x, training=False):
        return self.autoencoder.encoder(self.pad(x), training=training)

    def decode(self, code, weights):
        return self.crop(self.call_with("decoder", weights, code))

    def reconstruction_losses(self, x, reconstruction):
        return self.reconstruction_loss(x, reconstruction)


# --------------------------------------------------------------------------
# estimators

_PARAMETERS = {
    "gradient_weight": [Interval(Real, 0.0, None, closed="left")],
    "gradient_score_weight": [Interval(Real, 0.0, None, closed="left")],
}


class _GradConMixin:
    """What the two GradCon estimators share: the scoring memory of the
    per-sample gradients."""

    def _values_per_row(self):
        # Each sample's gradient of every decoder weight, beside its input
        # and activations.
        own = super()._values_per_row() or int(np.prod(self._sample_shape_))
        decoder = self.model_.decoder.trainable_variables
        return own + sum(int(np.prod(w.shape)) for w in decoder)


class GradCon(_GradConMixin, BaseGradientDetector):
    """GradCon: an autoencoder whose gradients are the representation, for
    rows of features.

    An autoencoder learns to reconstruct the training data. GradCon also
    reads the *gradients* that a sample backpropagates to the decoder's
    weights: the change of the network that the sample asks for. Normal
    samples ask for changes in the directions the training data asked for;
    an anomaly asks for a change in another direction. Training keeps, for
    each decoder layer's weights (kernel), the running average of the
    gradients that the training batches' reconstruction loss gave it, and
    adds a *gradient loss* to the reconstruction loss: one minus the
    cosine similarity between the batch's gradient and that average,
    averaged over the decoder's layers. The network thus learns to keep
    the gradients of normal data aligned, which makes the direction of an
    anomaly's gradient stand out. The score of a sample is minus its mean
    squared reconstruction error plus ``gradient_score_weight`` times the
    gradient loss of its own gradient (with the final averages).

    Parameters
    ----------
    hidden_units : "auto" or sequence of int, default="auto"
        Widths of the encoder's layers, the last one being the code; the
        decoder mirrors them and ends in a linear layer as wide as the
        input. ``(64, 8)`` gives ``n_features -> 64 -> 8 -> 64 ->
        n_features``, whose decoder has two layers. ``"auto"`` uses one
        hidden layer about as wide as the input (16 to 128 units) and a code
        of about ``sqrt(n_features)`` units (2 to 32).
    activation : str, default="relu"
        Activation of the hidden layers and the code (any Keras name).
    gradient_weight : float >= 0, default=0.03
        Weight ``alpha`` of the gradient loss in the training loss
        ``reconstruction + alpha * gradient``; the authors' value. ``0``
        trains a plain autoencoder (the averages are still kept, and the
        score still reads the gradients).
    gradient_score_weight : float >= 0, default=0.12
        Weight ``beta`` of a sample's gradient loss in its score
        ``-(reconstruction + beta * gradient)``; the authors' value for
        images. ``0`` scores by the reconstruction error alone.
    trim_fraction : float in [0, 0.5), default=0.1
        Share of each training batch's largest reconstruction losses left
        out of its reconstruction loss (a trimmed mean), whose gradients
        the constraint then compares, so that the anomalies in unlabelled
        training data pull the model less towards them. ``0`` trains on the
        plain mean, as the paper does. 0.1, the ``AutoEncoder``'s default,
        raised the mean test ROC AUC from 0.637 to 0.688 on the selection
        part of ADBench (``benchmarks/tabular_select.py``: 8 data sets,
        seed 0).

    Attributes
    ----------
    model_ : keras.Model
        The trained network (a ``GradConNetwork``): ``model_.autoencoder``
        holds the ``encoder`` and ``decoder``, ``model_.average_gradients``
        the running average of each decoder kernel's gradient and
        ``model_.averaged_steps`` the number of steps averaged.

    See Also
    --------
    ConvGradCon : The same for images.
    AutoEncoder : The reconstruction error alone.

    Notes
    -----
    ``history_`` logs, per epoch, ``loss`` (the training loss),
    ``reconstruction_loss`` and ``gradient_loss`` (the two terms, each the
    mean of the batches'), and the same on the held-out samples
    (``val_...``), where the gradient loss is that of each held-out batch's
    gradient with the averages as they are; early stopping watches
    ``val_loss``, as the authors' code keeps the epoch of lowest
    validation loss. The averages are the network's weights: they are
    restored with the best epoch's, pickled with the detector, and go on
    from where they were on a warm start.

    Scoring differentiates each sample's reconstruction loss with respect
    to the decoder's weights, one sample at a time (vectorised over a
    chunk of samples): it costs several times a forward pass, and its
    memory per sample grows with the decoder's number of weights, which
    bounds the chunks.

    Under ``distribute``, each replica's gradient loss is that of the
    gradient of its part of the batch (noisier than the whole batch's);
    the averages take the whole batch's gradient, the same on every
    replica.

    What differs from the paper and the authors' code: the gradient loss
    is ``1 - cos`` where they write ``-cos``, which shifts the loss and
    the score by a constant and changes no gradient nor any ranking; the
    running averages here are those of the reconstruction loss's
    gradients (the ones the cosine compares), where the authors' code
    averages the gradients of the whole training loss; the paper's network
    is convolutional, for images (:class:`ConvGradCon`), where this one is
    dense; ``trim_fraction`` trims the batch's reconstruction loss, of
    which the gradient constraint then compares the gradients (the paper
    does not trim). The default weights come from the authors'
    code (``alpha = 0.03`` in training, ``beta = 0.12`` in scoring), chosen
    for images in [0, 1]; on standardised rows a sample's reconstruction
    error is larger, and the gradient term weighs relatively less.

    Measured in this detector's tests (``tests/dynamics/test_gradcon.py``,
    the data seeded 0, 1 and 2): on rows near a curved 2-d sheet in 8-d,
    with anomalies moved one unit off it, its test ROC AUC is 0.905, 0.958
    and 0.951, where the distance from the mean gets 0.786, 0.729 and
    0.695. The gradient loss alone ranks them at 0.721, 0.652 and 0.715
    (0.650, 0.427 and 0.645 trained with ``gradient_weight=0``); at the
    default ``gradient_score_weight`` it moves the score's ROC AUC by 0.007
    at most: on such rows the reconstruction error carries the score.

    The paper reports mean ROC AUCs of 0.664 on CIFAR-10, 0.973 on MNIST
    and 0.934 on fashion-MNIST (one class normal, the others anomalies;
    as stated in the abstract of its earlier version, "Characterizing
    missing information in deep networks using backpropagated
    gradients"), and results on CURE-TSR traffic signs under
    distortions.

    References
    ----------
    G. Kwon, M. Prabhushankar, D. Temel and G. AlRegib, "Backpropagated
    gradient representations for anomaly detection", ECCV 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import GradCon
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> detector = GradCon(epochs=5, random_state=0).fit(X)
    >>> detector.predict([[0.0] * 5, [8.0] * 5])
    array([ 1, -1])
    >>> sorted(detector.history_)[:3]
    ['gradient_loss', 'loss', 'reconstruction_loss']
    """

    _parameter_defaults = {"trim_fraction": 0.1}
    _parameter_constraints: dict = {
        "hidden_units": ["array-like", str],
        "activation": [str],
        **_PARAMETERS,
    }

    def __init__(
        self,
        hidden_units="auto",
        *,
        activation="relu",
        gradient_weight=0.03,
        gradient_score_weight=0.12,
        **params,
    ):
        self.hidden_units = hidden_units
        self.activation = activation
        self.gradient_weight = gradient_weight
        self.gradient_score_weight = gradient_score_weight
        super().__init__(**params)

    def _build_network(self, sample_shape):
        validate_hidden_units(self.hidden_units)
        (n_features,) = sample_shape
        return GradConNetwork(
            n_features,
            resolve_hidden_units(self.hidden_units, n_features),
            activation=self.activation,
            gradient_weight=float(self.gradient_weight),
            gradient_score_weight=float(self.gradient_score_weight),
        )


class ConvGradCon(_GradConMixin, ConvNetwork, ImageInput, BaseGradientDetector):
    """GradCon for images: a convolutional autoencoder whose gradients are
    the representation.

    The method of :class:`GradCon` on a convolutional autoencoder, as in
    the paper: stride-2 convolutions down to a code feature map, transposed
    convolutions back up. Training adds to the reconstruction loss the
    gradient loss: one minus the cosine similarity between the gradient
    that the batch's reconstruction loss gives each decoder layer's kernel
    and the running average of the earlier batches' gradients, averaged
    over the decoder's layers. The score of an image is minus its mean
    squared reconstruction error plus ``gradient_score_weight`` times the
    gradient loss of its own gradient; :meth:`anomaly_map` is the squared
    reconstruction error of each pixel (the gradient has no place in the
    image).

    Parameters
    ----------
    gradient_weight : float >= 0, default=0.03
        Weight ``alpha`` of the gradient loss in the training loss
        ``reconstruction + alpha * gradient``; the authors' value.
    gradient_score_weight : float >= 0, default=0.12
        Weight ``beta`` of an image's gradient loss in its score
        ``-(reconstruction + beta * gradient)``; the authors' value.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (a ``ConvGradConNetwork``):
        ``model_.autoencoder`` holds the ``encoder`` and ``decoder``,
        ``model_.average_gradients`` the running average of each decoder
        kernel's gradient and ``model_.averaged_steps`` the number of
        steps averaged.

    See Also
    --------
    GradCon : The same for rows of features.
    ConvAutoEncoder : The reconstruction error alone.

    Notes
    -----
    ``history_`` logs, per epoch, ``loss``, ``reconstruction_loss`` and
    ``gradient_loss``, and the same on the held-out images (``val_...``);
    early stopping watches ``val_loss``, and ``distribute`` works as for
    :class:`GradCon` (see its Notes). Input may
    be ``(n_samples, height, width)``, ``(n_samples, height, width,
    channels)`` or flattened rows (see ``image_shape``); sides that are not
    multiples of ``2 ** L`` are padded with zeros for the network and the
    outputs cropped back. A pixel of the anomaly map is its squared
    reconstruction error averaged over the channels, on the scaled images.

    Scoring differentiates each image's reconstruction loss with respect to
    the decoder's weights, one image at a time (vectorised over a chunk of
    images; the gradient of a convolution's kernel runs in a loop over the
    images inside it): it costs several times a forward pass, and its
    memory per image grows with the decoder's number of weights.

    What differs from the paper and the authors' code: their network has
    four levels of 4x4 convolutions (32, 32, 64 and 64 filters) and a
    sigmoid output; here the levels are those of ``filters``, of
    ``kernel_size``, with a linear output (images are scaled to [0, 1] by
    default); the gradient loss is ``1 - cos`` where they write ``-cos``
    (a constant apart); the running averages are those of the
    reconstruction loss's gradients, where the authors' code averages the
    gradients of the whole training loss.

    Measured in this detector's tests (``tests/dynamics/test_gradcon.py``,
    the data seeded 0, 1 and 2): on 16x16 vertical stripes with a square
    of turned stripes in the anomalies (which the squared distance to the
    mean image does not find: 0.480, 0.507 and 0.501), trained 30 epochs,
    the gradient loss alone reaches a ROC AUC of 0.862, 0.969 and 0.767,
    against 0.344, 0.423 and 0.180 for the same network trained without
    the constraint (``gradient_weight=0``): the constraint is what makes
    the gradients tell the defects apart. The score at the default
    weights reaches 0.998, 1.000 and 0.944 (0.570, 0.730 and 0.601
    without the constraint); the reconstruction error alone reaches 1.000
    either way.

    The paper reports mean ROC AUCs of 0.664 on CIFAR-10, 0.973 on MNIST
    and 0.934 on fashion-MNIST (one class normal, the others anomalies;
    as stated in the abstract of its earlier version), and results on
    CURE-TSR traffic signs under distortions.

    References
    ----------
    G. Kwon, M. Prabhushankar, D. Temel and G. AlRegib, "Backpropagated
    gradient representations for anomaly detection", ECCV 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import ConvGradCon
    >>> rng = np.random.RandomState(0)
    >>> X = np.tile(np.linspace(0, 1, 8), (60, 8, 1))   # 60 horizontal ramps
    >>> X += rng.normal(scale=0.02, size=X.shape)
    >>> detector = ConvGradCon(epochs=10, random_state=0).fit(X)
    >>> defect = X[:2].copy()
    >>> defect[1, 2:5, 2:5] = 1.0                        # a bright square
    >>> detector.anomaly_map(defect).shape
    (2, 8, 8)
    >>> detector.predict(defect)
    array([ 1, -1])
    """

    _reconstructs = True
    _scores_from_map = False
    _parameter_constraints: dict = dict(_PARAMETERS)

    def __init__(self, *, gradient_weight=0.03, gradient_score_weight=0.12, **params):
        self.gradient_weight = gradient_weight
        self.gradient_score_weight = gradient_score_weight
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return ConvGradConNetwork(
            sample_shape,
            self._filters_,
            kernel_size=self.kernel_size,
            activation=self.activation,
            gradient_weight=float(self.gradient_weight),
            gradient_score_weight=float(self.gradient_score_weight),
        )
