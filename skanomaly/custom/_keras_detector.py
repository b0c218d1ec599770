"""Your own Keras model as an anomaly detector."""

import inspect

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ..engine import BaseGradientDetector, DetectorNetwork, keras
from ..utils._validation import validate_samples

ops = keras.ops

#: What a model is trained to do, and how a trained one scores.
OBJECTIVES = ("reconstruction", "classification", "custom")
#: Keeps the logarithms of the classification loss finite.
EPSILON = 1e-7


def _mean_squared_error(x, outputs):
    axes = tuple(range(1, len(x.shape)))
    return ops.mean(ops.square(outputs - x), axis=axes)


def _takes_labels(function):
    """Whether a user's loss takes the labels: ``loss(x, outputs, labels)``."""
    return len(inspect.signature(function).parameters) >= 3


class KerasModelNetwork(DetectorNetwork):
    """A user's Keras model, trained and scored by an objective.

    ``"reconstruction"``: the loss of a sample is its mean squared error, the
    score minus it. ``"classification"``: the model's output is the
    probability that a sample is an anomaly; the loss is the binary cross
    entropy weighted by ``class_weights`` (a non-trainable weight, one per
    label 0 and 1), the score minus the probability. ``"custom"``: the
    user's ``loss_function(x, outputs[, labels])`` and
    ``score_function(x, outputs)``.
    """

    def __init__(self, model, objective, loss_function=None, score_function=None):
        super().__init__()
        self.model = model
        self.objective = objective
        self.loss_function = loss_function
        self.score_function = score_function
        self.class_weights = self.add_weight(
            shape=(2,), initializer="ones", trainable=False, name="class_weights"
        )

    def call(self, x, training=False):
        return self.model(x, training=training)

    def detector_loss(self, x, outputs, training, labels=None):
        if self.objective == "reconstruction":
            return _mean_squared_error(x, outputs)
        if self.objective == "classification":
            probability = ops.clip(ops.reshape(outputs, (-1,)), EPSILON, 1.0 - EPSILON)
            anomaly = ops.cast(labels, probability.dtype)
            entropy = -(
                anomaly * ops.log(probability)
                + (1.0 - anomaly) * ops.log(1.0 - probability)
            )
            return entropy * ops.take(ops.cast(self.class_weights, entropy.dtype), labels)
        if labels is None:
            return self.loss_function(x, outputs)
        return self.loss_function(x, outputs, labels)

    def score(self, x):
        outputs = self(x, training=False)
        if self.objective == "reconstruction":
            return -_mean_squared_error(x, outputs)
        if self.objective == "classification":
            return -ops.reshape(outputs, (-1,))
        return self.score_function(x, outputs)


class KerasDetector(BaseGradientDetector):
    """Your own Keras model as an anomaly detector: OneClassSVM, with your
    network.

    The engine trains the model and scores with it as it does every other
    deep detector, so that it keeps scikit-learn's outlier contract, goes
    into a ``Pipeline`` and ``GridSearchCV``, clones and pickles:

    * ``objective="reconstruction"`` (the default) trains the model to
      reproduce its input, an autoencoder: a sample's score is minus its
      mean squared reconstruction error (higher is more normal). ``y`` is
      ignored.
    * ``objective="classification"`` trains the model on labels, 1 for an
      anomaly and 0 for a normal sample, to give the probability that a
      sample is an anomaly (end the model with a sigmoid); the loss is the
      binary cross entropy with each class weighted by ``n_samples / (2 *
      n_samples_of_the_class)``, so that a few labelled anomalies weigh as
      much as many normals. The score is minus the probability, and
      ``contamination="auto"`` puts the threshold at a probability of 0.5.
      This is the supervised route ("train on good and bad parts"): the
      baseline any detector that learns from a few labelled anomalies must
      beat.
    * ``objective="custom"`` trains the model with ``loss`` and scores it
      with ``score_function``, both of the user's.

    Parameters
    ----------
    model : callable or keras.Model, default=None
        A function ``model(sample_shape, **model_params)`` that returns a
        new Keras model for samples of shape ``sample_shape`` (``(n_features,)``
        for rows, ``(height, width, channels)`` for images), or a Keras
        model, copied with ``keras.models.clone_model`` (fresh weights) at
        each fit; a subclassed model cannot be copied so: give a function
        that builds it. For pickling, the function must be importable (not
        a lambda). Required.
    objective : {"reconstruction", "classification", "custom"}, \
            default="reconstruction"
        What the model learns, and how it scores (see above).
    loss : callable, default=None
        ``objective="custom"`` only: ``loss(x, outputs)``, or ``loss(x,
        outputs, labels)`` to learn from labels (1 anomaly, 0 normal, -1
        unlabelled), returning one loss per sample, written with
        ``keras.ops``. ``x`` is the scaled input.
    score_function : callable, default=None
        ``objective="custom"`` only: ``score_function(x, outputs)``,
        returning one normality score per sample (higher is more normal),
        written with ``keras.ops``.
    **model_params : dict
        Arguments of ``model`` when it is a function, given as
        ``model__<name>=value`` (as SciKeras routes them), so that
        ``GridSearchCV`` can tune them: ``{"model__units": [8, 16]}``.

    Attributes
    ----------
    model_ : keras.Model
        The trained network: a ``KerasModelNetwork``, whose ``model``
        attribute is the trained copy of your model.
    sample_shape_ : tuple of int
        Shape of one training sample.

    See Also
    --------
    AutoEncoder : A dense autoencoder with its network sized for you.

    Notes
    -----
    Samples may have any shape the model takes: rows of features are
    scaled per feature, images and sequences (``X`` of 3 or more
    dimensions) per channel, the last axis, over all the other axes
    (``scaling``).

    Examples
    --------
    >>> import keras
    >>> import numpy as np
    >>> from skanomaly import KerasDetector
    >>> def autoencoder(sample_shape, units=2):
    ...     return keras.Sequential([
    ...         keras.Input(sample_shape),
    ...         keras.layers.Dense(units, activation="relu"),
    ...         keras.layers.Dense(sample_shape[0]),
    ...     ])
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> detector = KerasDetector(autoencoder, model__units=3, epochs=10,
    ...                          random_state=0).fit(X)
    >>> detector.predict([[0.0] * 5, [8.0] * 5])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "model": [callable, keras.Model, None],
        "objective": [StrOptions(set(OBJECTIVES))],
        "loss": [callable, None],
        "score_function": [callable, None],
    }
    _scoring_dtype = "float32"
    _scoring_reason = (
        "the trained copy of your model, as it is, whatever its layers; a "
        "float64 copy would need every layer rebuilt in float64"
    )

    def __init__(
        self,
        model=None,
        *,
        objective="reconstruction",
        loss=None,
        score_function=None,
        **params,
    ):
        self.model = model
        self.objective = objective
        self.loss = loss
        self.score_function = score_function
        for name in [name for name in params if name.startswith("model__")]:
            setattr(self, name, params.pop(name))
        super().__init__(**params)

    # ------------------------------------------------- routed parameters
    def _model_params(self):
        """The ``model__`` parameters, as given."""
        return {name: value for name, value in vars(self).items() if name.startswith("model__")}

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._model_params())
        return params

    def set_params(self, **params):
        for name in [name for name in params if name.startswith("model__")]:
            setattr(self, name, params.pop(name))
        return super().set_params(**params)

    # ------------------------------------------------------ declarations
    @property
    def _fit_labels(self):
        if self.objective == "classification":
            return {0, 1}
        if self.objective == "custom" and self.loss is not None and _takes_labels(self.loss):
            return {-1, 0, 1}
        return None

    @property
    def _needs_anomaly_labels(self):
        return self.objective == "classification"

    @property
    def _scale_per_channel(self):
        return len(self.sample_shape_) > 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = self._fit_labels is not None
        return tags

    # ------------------------------------------------------------- input
    def _validate_input(self, X, reset):
        return validate_samples(self, X, reset=reset, ensure_min_samples=2 if reset else 1)

    # ----------------------------------------------------------- network
    def _check_sample_shape(self, sample_shape):
        super()._check_sample_shape(sample_shape)
        name = type(self).__name__
        if self.model is None:
            raise ValueError(
                f"{name} needs a model: a function that builds a Keras model "
                "for a sample shape, or a Keras model."
            )
        if self.objective == "custom" and (self.loss is None or self.score_function is None):
            raise ValueError(
                f"{name} with objective='custom' needs both loss and "
                "score_function."
            )
        if self.objective != "custom" and (self.loss is not None or self.score_function is not None):
            raise ValueError(
                f"{name}: loss and score_function are for objective='custom'; "
                f"objective={self.objective!r} has its own."
            )
        if isinstance(self.model, keras.Model) and self._model_params():
            raise ValueError(
                f"{name}: model__ parameters ({sorted(self._model_params())}) "
                "are arguments of a model function; model is a Keras model."
            )

    def _user_model(self, sample_shape):
        name = type(self).__name__
        if isinstance(self.model, keras.Model):
            try:
                return keras.models.clone_model(self.model)
            except Exception as exc:
                raise TypeError(
                    f"{name} cannot copy the model {type(self.model).__name__} "
                    f"for a new fit ({exc}). Pass a function that builds it, "
                    "model(sample_shape, **model_params), instead."
                ) from None
        arguments = {key[len("model__"):]: value for key, value in self._model_params().items()}
        model = self.model(sample_shape, **arguments)
        if not isinstance(model, keras.layers.Layer):
            raise TypeError(
                f"{name}: model(sample_shape) must return a Keras model; "
                f"{getattr(self.model, '__name__', self.model)!r} returned "
                f"{type(model).__name__}."
            )
        return model

    def _build_network(self, sample_shape):
        name = type(self).__name__
        model = self._user_model(sample_shape)
        try:
            outputs = model(np.zeros((1, *sample_shape), dtype=keras.config.floatx()))
        except Exception as exc:
            raise ValueError(
                f"{name}: the model does not take samples of shape "
                f"{sample_shape}: {exc}"
            ) from None
        if not hasattr(outputs, "shape"):
            raise ValueError(
                f"{name} needs a model with one output tensor; it returns a "
                f"{type(outputs).__name__}."
            )
        got = tuple(outputs.shape)
        if self.objective == "reconstruction" and got != (1, *sample_shape):
            raise ValueError(
                f"{name} with objective='reconstruction' needs a model whose "
                f"output has the shape of its input; for samples of shape "
                f"{sample_shape} it returns {got[1:]}."
            )
        if self.objective == "classification" and got not in ((1,), (1, 1)):
            raise ValueError(
                f"{name} with objective='classification' needs a model that "
                "returns one probability a sample (shape (n,) or (n, 1)); it "
                f"returns {got[1:]} a sample."
            )
        return KerasModelNetwork(
            model,
            self.objective,
            loss_function=self.loss,
            score_function=self.score_function,
        )

    def _init_network(self, network, X, y):
        if self.objective == "classification":
            counts = np.bincount(y, minlength=2).astype(np.float64)
            if counts[0] == 0:
                raise ValueError(
                    f"{type(self).__name__} with objective='classification' "
                    "needs normal samples (a 0 in y) as well as anomalies."
                )
            network.class_weights.assign(len(y) / (2.0 * counts))

    def _auto_offset(self, train_scores):
        """``offset_`` for ``contamination="auto"``: a probability of 0.5 for
        the classification objective, Tukey's lower fence otherwise."""
        if self.objective == "classification":
            return -0.5
        return super()._auto_offset(train_scores)
