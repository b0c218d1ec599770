"""The engine's core: what every deep detector shares, however it fits."""

import contextlib
import functools
import numbers

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base import BaseDetector
from ..utils._parameters import Attribute, Parameter
from ._backend import keras, quiet_retracing, tf
from ._devices import (
    DeviceOptions, check_device, device_scope, enable_memory_growth, on_device, scoring_device,
)
from ._labels import check_labels
from ._scaling import SCALINGS, apply_scaling, fit_scaling
from ._scoring import ChunkedMapper
from ._seeding import draw_seed, keep_global_rngs, own_default_seeds, seeded
from ._state import network_state, restore_network_state
from ._training import check_tasks

SCALING = Parameter(
    "scaling", "standard", [StrOptions(set(SCALINGS)), None],
    '{"standard", "robust", "minmax"} or None',
    """
    Scaling fitted on the training data and applied inside the detector,
    so raw features work without a scaler in front: standardised,
    median/IQR-scaled or mapped to [0, 1], per feature (per channel for
    images and sequences, over all their pixels or steps); ``None`` leaves
    the input as it is.
    """,
)
VERBOSE = Parameter(
    "verbose", 0, ["verbose"], "int",
    """
    Progress output: 0 silent, 1 Keras' progress bar, 2 one line per
    epoch (or per pass over the data, for detectors that do not train by
    epochs).
    """,
)
RANDOM_STATE = Parameter(
    "random_state", None, ["random_state"], "int, RandomState instance or None",
    """
    Seeds everything random in a fit (initial weights, shuffling, dropout,
    noise, sampling): an int gives the same scores run after run.
    """,
)
DEVICE = Parameter(
    "device", "auto", [DeviceOptions()], '{"auto", "cpu", "gpu"} or "gpu:N"',
    """
    Where to train and score: ``"auto"`` lets TensorFlow choose (the first
    visible GPU if there is one, else the CPU), ``"gpu"`` is the first
    visible GPU and ``"gpu:N"`` the N-th, counted after
    ``CUDA_VISIBLE_DEVICES``. ``fit`` raises a ValueError naming the
    devices that exist when the one asked for does not; a fitted detector
    loaded where its GPU does not exist scores on the default device. See
    the documentation's "Scaling out" page.
    """,
)


@contextlib.contextmanager
def _dtype_policy(name):
    """Build layers under Keras' global dtype policy ``name``."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _score_scaled(network, center, scale, x, **constants):
    return network.score((x - center) / scale, **constants)


class BaseDeepDetector(BaseDetector):
    """Base class of the deep detectors: the engine every one of them shares.

    The engine owns, once: input validation and scaling, seeding, device
    placement, labels given to ``fit``, frozen pretrained sub-networks,
    chunked scoring under scikit-learn's ``working_memory`` (and chunked
    feature extraction for fits that need it), pickling and ``clone``, and
    the parameters that go with them (``scaling``, ``verbose``,
    ``random_state``, ``device``, ``contamination``), documented once here
    and added to each detector's signature and docstring.

    A detector that trains by gradient descent subclasses
    :class:`~skanomaly.engine.BaseGradientDetector`. One whose fit is
    something else (extract features, then build a memory bank or fit a
    Gaussian) subclasses this class directly and writes:

    * ``_build_network(sample_shape)``: a new
      :class:`~skanomaly.engine.DetectorNetwork` for samples of that shape,
      built only from the estimator's parameters (and ``self._frozen_``);
    * ``_fit_network(network, X, y, *, seed, warm)``: the fit itself, on
      the scaled training samples ``X`` (and their labels ``y``, or None),
      storing what it learns in fitted attributes (names ending in ``_``),
      which are pickled with the detector. :meth:`_map_in_chunks` runs a
      network over ``X`` in chunks, with a progress bar.

    Optional hooks and declarations, for any deep detector:

    * ``_scoring_dtype``: ``"float64"`` (the default) scores through a
      float64 copy of the trained network, so that a sample's score does
      not depend on the others in its batch; ``"float32"`` scores with the
      trained network itself (convolutional networks, and any network with
      frozen parts, which are never copied);
    * ``_frozen_networks(sample_shape, pretrained)``: sub-networks that do
      not train (a pretrained backbone, a teacher), by name. They are built
      once per fit (reused by the next fit while ``sample_shape`` and the
      parameters named in ``_frozen_parameters`` do not change), never
      updated, and pickled once with the detector. ``pretrained=False``
      asks for the architecture only: unpickling sets the saved weights,
      without a download or a weights file;
    * ``_fit_labels`` (the set of labels ``fit`` takes from ``y``, from
      ``{1, 0, -1}``; ``None``, the default, ignores ``y``),
      ``_needs_anomaly_labels`` and ``_labels_optional`` (``y=None`` then
      fits without labels: ``_fit_network`` gets ``y=None``);
    * ``_fit_groups``: ``True`` for a detector whose ``fit(X, y=None,
      groups=None)`` also takes the task of each sample (meta-learning
      across tasks; that ``fit`` calls ``_fit_checked(X, y,
      groups=groups)``). The engine checks them
      (:func:`~skanomaly.engine._training.check_tasks`) and hands them to
      ``_fit_network`` as ``groups=`` (``None`` when ``fit`` got none);
    * ``_check_sample_shape(sample_shape)``: refuse samples the network
      cannot take, with a clear error, before anything is built;
    * ``_calibrate(X, y)``: run on the scaled training data after every
      fit, for what scoring needs from the trained network;
    * ``_make_scorer()``: the scoring function (and, with
      :meth:`_mapper_of`, mappers of other outputs in ``self._mappers``);
      ``_values_per_row()`` bounds the memory of one sample while scoring;
    * ``_scoring_constants()``: fitted arrays (a memory bank, per-position
      Gaussians) given to every scoring function as keyword arguments.

    The input kinds (:class:`~skanomaly.engine.ImageInput`,
    :class:`~skanomaly.engine.SequenceInput`) are mixins placed before this
    class; rows of features need none.
    """

    _shared_parameters = (SCALING, VERBOSE, RANDOM_STATE, DEVICE)
    _shared_attributes = (
        Attribute("model_", "keras.Model", "The fitted network."),
        Attribute(
            "scaling_center_, scaling_scale_", "ndarray",
            "The fitted input scaling: ``(X - scaling_center_) / "
            "scaling_scale_``, per feature (per channel for images and "
            "sequences).",
        ),
    )

    #: Precision of scoring: "float64" through a copy of the network,
    #: "float32" with the trained network itself.
    _scoring_dtype = "float64"
    #: Why, in a few words, for the detector's docstring.
    _scoring_reason = "networks of rows of features are small, and copying one costs little"
    #: Fit one centre and scale per channel (the last axis) over all the
    #: other axes, rather than one per value.
    _scale_per_channel = False
    #: The labels fit takes from y (a subset of {1, 0, -1}); None ignores y.
    _fit_labels = None
    #: Whether fit needs at least one labelled anomaly.
    _needs_anomaly_labels = False
    #: Whether fit also takes y=None (and then learns without labels).
    _labels_optional = False
    #: Whether fit takes groups, the task of each sample.
    _fit_groups = False
    #: Parameters that determine the frozen networks (besides the shape).
    _frozen_parameters = ()

    @classmethod
    def _docstring_notes(cls):
        if cls._scoring_dtype == "float64":
            precision = (
                "Scores are computed in float64, through a float64 copy of "
                f"the trained network ({cls._scoring_reason}): a sample's "
                "score does not depend on the other samples it is scored "
                "with."
            )
        else:
            precision = (
                "Scores are computed in float32, with the trained network "
                f"itself ({cls._scoring_reason}), in batches of one size "
                "(the last one padded), so that a sample's score does not "
                "depend on the other samples it is scored with; float32 "
                "keeps about seven significant digits, and a different "
                "``working_memory`` (another batch size) can change the "
                "seventh."
            )
        return [*super()._docstring_notes(), precision]

    # ----------------------------------------------------- subclass hooks
    def _build_network(self, sample_shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_network(self, network, X, y, *, seed, warm):  # pragma: no cover
        raise NotImplementedError

    def _frozen_networks(self, sample_shape, pretrained):
        """Sub-networks that do not train, by name; none here."""
        return {}

    def _check_sample_shape(self, sample_shape):
        """Refuse samples the network cannot take; any shape here."""

    def _calibrate(self, X, y):
        """Fit what scoring needs from the trained network; nothing here."""

    def _values_per_row(self):
        """Working memory of one sample in values while scoring, when it is
        more than the sample's own; ``None`` here."""
        return None

    def _scoring_constants(self):
        """Fitted arrays every scoring function gets as keyword arguments;
        none here."""
        return {}

    # ---------------------------------------------- what subclasses vary
    def _continues(self, sample_shape):
        """Whether this fit continues the fitted network rather than start
        afresh, for samples of ``sample_shape`` (never here: only detectors
        with warm starts do); a clear error where it cannot."""
        return self._continues_fit()

    def _continued_network(self):
        """The network a continued fit trains (built in its scope)."""
        return self.model_

    def _training_strategy(self):
        """The tf.distribute strategy the network trains under; None."""
        return None

    def _placement(self, tf_device):
        """The scope the networks are built and fitted in."""
        return device_scope(tf_device)

    def _new_training_network(self, seed=None):
        """A new network to fit, in float32, its initial weights from
        ``seed``."""
        return self._new_network("float32", seed)

    # ------------------------------------------------------------ fitting
    def _fit(self, X, y, groups=None):
        owner = type(self).__name__
        labels = self._check_fit_labels(y, X.shape[0])
        # Only a detector that takes groups gets the keyword.
        fit_groups = {}
        if self._fit_groups:
            fit_groups["groups"] = self._check_fit_groups(groups, X.shape[0])
        tf_device = check_device(self.device, owner)
        seed = draw_seed(self.random_state)
        sample_shape = tuple(X.shape[1:])
        warm = self._continues(sample_shape)
        if not warm:
            self._check_sample_shape(sample_shape)
            self._sample_shape_ = sample_shape
            self.scaling_center_, self.scaling_scale_ = fit_scaling(
                X.reshape(-1, X.shape[-1]) if self._scale_per_channel else X,
                self.scaling,
            )
        X_scaled = apply_scaling(X, self.scaling_center_, self.scaling_scale_)
        with quiet_retracing(), seeded(seed), self._placement(tf_device):
            if warm:
                network = self._continued_network()
            else:
                self._frozen_ = self._frozen_for(sample_shape)
                network = self._new_training_network(seed)
            self._fit_network(
                network, X_scaled, labels, seed=seed, warm=warm, **fit_groups
            )
        self.model_ = network
        self._scorer = self._make_scorer()
        self._calibrate(X_scaled, labels)
        return None

    def _check_fit_labels(self, y, n_samples):
        """The labels ``fit`` hands the detector, or None if it takes none."""
        if self._fit_labels is None or (y is None and self._labels_optional):
            return None
        return check_labels(
            y,
            n_samples,
            accepted=self._fit_labels,
            needs_anomalies=self._needs_anomaly_labels,
            owner=type(self).__name__,
        )

    def _check_fit_groups(self, groups, n_samples):
        """The checked tasks of the samples, or None if ``fit`` got none."""
        if groups is None:
            return None
        return check_tasks(groups, n_samples, owner=type(self).__name__)

    def _forget_fit(self):
        super()._forget_fit()
        for name in self._SCORING_STATE:
            vars(self).pop(name, None)

    def _frozen_for(self, sample_shape):
        """This fit's frozen networks: those of the last fit when nothing
        they depend on changed, else new ones with pretrained weights."""
        params = self.get_params(deep=False)
        key = (sample_shape, [params[name] for name in self._frozen_parameters])
        if "_frozen_" in vars(self) and self._frozen_key_ == key:
            return self._frozen_
        frozen = self._new_frozen(sample_shape, pretrained=True)
        if frozen and self._scoring_dtype != "float32":
            raise TypeError(
                f"{type(self).__name__} has frozen networks and scores in "
                f"{self._scoring_dtype}: set _scoring_dtype = 'float32', so "
                "that they are never copied."
            )
        self._frozen_key_ = key
        return frozen

    def _new_frozen(self, sample_shape, pretrained):
        with keep_global_rngs(), _dtype_policy("float32"):
            frozen = dict(self._frozen_networks(sample_shape, pretrained=pretrained))
        for part in frozen.values():
            part.trainable = False
        return frozen

    def _new_network(self, dtype, seed=None):
        """The detector's network for ``_sample_shape_``, built, in ``dtype``
        (its initial weights drawn from ``seed`` when given)."""
        with keep_global_rngs(), _dtype_policy(dtype), own_default_seeds(seed):
            network = self._build_network(self._sample_shape_)
            network(np.zeros((1, *self._sample_shape_), dtype=dtype))
        unbuilt = [
            part for part in network.trained_parts or ()
            if not getattr(network, part).built
        ]
        if unbuilt:
            raise TypeError(
                f"{type(network).__name__}: calling it on a batch leaves "
                f"{unbuilt} unbuilt; write build(input_shape) to build every "
                "trained part (the engine copies and saves their weights)."
            )
        return network

    def _map_in_chunks(
        self, network, function, X, output_shape=(), output_dtype="float64", **constants
    ):
        """``function(network, x, **constants)`` over ``X`` (scaled), one
        chunk at a time, on this fit's device.

        For fits that are not gradient descent: extracting the features a
        memory bank is built from, say. The output is ``output_dtype``; the
        progress bar follows ``verbose``. A fit that maps several blocks of
        ``X`` in turn takes one :meth:`_chunk_mapper` and calls it on each,
        so that the function is traced once.
        """
        return self._chunk_mapper(network, function, output_shape, output_dtype, **constants)(X)

    def _chunk_mapper(
        self, network, function, output_shape=(), output_dtype="float64", **constants
    ):
        """The :class:`~skanomaly.engine._scoring.ChunkedMapper` that
        :meth:`_map_in_chunks` calls: reusable, traced once."""
        return ChunkedMapper(
            functools.partial(_call_on, function, network, constants),
            self._sample_shape_,
            output_shape,
            values_per_row=self._values_per_row(),
            dtype="float32",
            output_dtype=output_dtype,
            progress=self.verbose,
        )

    # ------------------------------------------------------------ scoring
    #: What scoring keeps besides the fitted attributes; rebuilt, not pickled.
    _SCORING_STATE = (
        "_scorer", "_scoring_network", "_mappers", "_scoring_device", "_constant_tensors",
    )

    def _make_scorer(self):
        """The scoring function: chunked and compiled, over a float64 copy
        of the trained network or the network itself (``_scoring_dtype``).

        A subclass that maps samples to more than a score (anomaly maps,
        reconstructions) extends this, adding mappers from
        :meth:`_mapper_of` to ``self._mappers``.
        """
        self._scoring_device = scoring_device(self.device, self._training_strategy())
        if self._scoring_dtype == "float64":
            with device_scope(self._scoring_device):
                network = self._new_network("float64")
            network.set_weights(
                [
                    w.astype(np.float64) if np.issubdtype(w.dtype, np.floating) else w
                    for w in self.model_.get_weights()
                ]
            )
        else:
            network = self.model_
        self._scoring_network = network
        self._mappers = {}
        # Once for all the mappers: a memory bank or a precision matrix can
        # be large.
        dtype = tf.as_dtype(self._scoring_dtype)
        with device_scope(self._scoring_device):
            self._constant_tensors = {
                name: tf.constant(value, _floats_as(value, dtype))
                for name, value in self._scoring_constants().items()
            }
        return self._mapper_of(_score_scaled)

    def _mapper_of(self, function, output_shape=(), center=None, scale=None):
        """A :class:`~skanomaly.engine._scoring.ChunkedMapper` of
        ``function(network, center, scale, x, **constants)`` over the
        scoring network, with the fitted scaling unless ``center`` and
        ``scale`` are given, and the detector's ``_scoring_constants()``."""
        dtype = tf.as_dtype(self._scoring_dtype)
        center = self.scaling_center_ if center is None else center
        scale = self.scaling_scale_ if scale is None else scale
        constants = self._constant_tensors
        # A partial rather than a closure: TensorFlow counts traces per code
        # object and would warn of "retracing" across fitted detectors.
        return ChunkedMapper(
            functools.partial(
                on_device,
                self._scoring_device,
                function,
                self._scoring_network,
                tf.constant(center, dtype),
                tf.constant(scale, dtype),
                **constants,
            ),
            self._sample_shape_,
            output_shape,
            values_per_row=self._values_per_row(),
            # Trained eagerly means tiny: tracing would cost more than it saves.
            eager=self.model_.run_eagerly,
            dtype=self._scoring_dtype,
            # XLA's reordered sums agree to 1e-15 in float64 but only to
            # 1e-6 in float32, beyond scikit-learn's tolerance for scoring
            # a row alone or in a batch; and frozen pretrained backbones
            # (float32) resize with an operation XLA lacks.
            compile_single_row=self._scoring_dtype == "float64",
        )

    def _score_samples(self, X):
        return self._scorer(self._network_input(X))

    def _network_input(self, X):
        """What the network's scoring functions take for validated ``X``:
        ``X`` itself. A detector that adds inputs computed outside the
        network (a segmentation by a scikit-learn transformer) overrides
        this; its scoring then cannot be exported alone."""
        return X

    # ------------------------------------------------------------- export
    def export(self, path, format="saved_model", *, batch_size=None):
        """Write the fitted scoring as a model that runs without skanomaly.

        The export holds the detector's own compiled scoring functions,
        with the fitted scaling and the trained network inside:

        * ``score_samples`` (higher is more normal), ``decision_function``
          (minus the fitted ``offset_``: negative for an outlier) and, for
          detectors of images and sequences, ``anomaly_map``;
        * each takes one input ``x``, a batch of any size of samples in the
          shape the network reads (``(n, n_features)`` rows,
          ``(n, height, width, channels)`` images, ``(n, n_steps,
          n_channels)`` sequences), already validated: no NaN, the
          features in the order of ``fit``, images as floats;
        * a JSON file says what it takes and returns (input shape and
          dtype, signatures, ``offset_``, versions): the SavedModel's
          ``assets/skanomaly_export.json``, or ``PATH.json`` beside a
          LiteRT file.

        The SavedModel computes in the detector's own scoring precision
        (float64 for rows, float32 for images and sequences), so its scores
        equal ``score_samples``; LiteRT computes in float32, its scores
        within about 1e-5 relative of ``score_samples`` (tested). See the
        docs' "Saving and loading" page to run one without skanomaly.

        Parameters
        ----------
        path : str or path-like
            A directory to write the SavedModel to, or the LiteRT file. An
            earlier export there is replaced; anything else is left alone,
            with an error.
        format : {"saved_model", "litert"}, default="saved_model"
            TensorFlow's SavedModel, or LiteRT (TFLite) for edge devices.
        batch_size : int, default=None
            The number of samples the export takes at a time; None for any
            number. LiteRT needs a fixed one for the recurrent layers of
            sequence detectors (``batch_size=1`` scores one sequence at a
            time; the error says so).

        Returns
        -------
        path : pathlib.Path
            The path written.
        """
        from ._export import FORMATS, export_detector

        check_is_fitted(self)
        if not isinstance(format, str) or format not in FORMATS:
            raise ValueError(
                f"{type(self).__name__}.export: format must be one of "
                f"{sorted(FORMATS)}, got {format!r}."
            )
        if batch_size is not None and not (
            isinstance(batch_size, numbers.Integral)
            and not isinstance(batch_size, bool)
            and batch_size >= 1
        ):
            raise ValueError(
                f"{type(self).__name__}.export: batch_size must be None or a "
                f"positive integer, got {batch_size!r}."
            )
        if (
            type(self)._score_samples is not BaseDeepDetector._score_samples
            or type(self)._network_input is not BaseDeepDetector._network_input
        ):
            raise ValueError(
                f"{type(self).__name__} cannot be exported: its scores are "
                "not computed by its network alone (they need steps in "
                "Python or scikit-learn). Save it with skanomaly.save "
                "instead."
            )
        return export_detector(self, path, format, batch_size)

    # -------------------------------------------------------- persistence
    def __getstate__(self):
        # A copy: on Python 3.11 the parent returns the live __dict__.
        state = dict(super().__getstate__())
        for name in self._SCORING_STATE:
            state.pop(name, None)
        if "model_" in state:
            state["_network_state"] = self._network_state()
            del state["model_"]
        if "_frozen_" in state:
            frozen = state.pop("_frozen_")
            state["_frozen_weights"] = {
                name: part.get_weights() for name, part in frozen.items()
            }
        return state

    def __setstate__(self, state):
        frozen_weights = state.pop("_frozen_weights", None)
        saved_network = state.pop("_network_state", None)
        super().__setstate__(state)
        if saved_network is not None or frozen_weights is not None:
            # Before the first network is built, which starts CUDA: quietly.
            enable_memory_growth()
        if frozen_weights is not None:
            self._frozen_ = self._new_frozen(self._sample_shape_, pretrained=False)
            for name, part in self._frozen_.items():
                part.set_weights(frozen_weights[name])
        if saved_network is not None:
            self.model_ = self._restored_network(saved_network)
            self._scorer = self._make_scorer()

    def _network_state(self):
        """The fitted network's state (see :func:`._state.network_state`)."""
        return network_state(self.model_, self._frozen_)

    def _restored_network(self, state):
        """A new network (in the current scope) set to a saved state."""
        network = self._new_training_network()
        restore_network_state(network, state, self._frozen_, type(self).__name__)
        return network


def _call_on(function, network, constants, x):
    return function(network, x, **constants)


def _floats_as(value, dtype):
    """``dtype`` for a floating-point array, its own dtype otherwise."""
    return dtype if np.issubdtype(np.asarray(value).dtype, np.floating) else None
