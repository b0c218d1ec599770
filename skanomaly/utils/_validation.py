"""Reading input as images or as sequences, in one place.

Every estimator that takes images or sequences (the detectors' input kinds
in :mod:`skanomaly.engine`, the image transformers of
:mod:`skanomaly.features`) validates its input here, so that the layouts it
accepts and the errors it raises are the same everywhere.

Images are accepted as:

* ``(n_samples, height, width)``: grayscale images;
* ``(n_samples, height, width, channels)``: images with the channels last
  (a single channel is read as grayscale);
* ``(n_samples, n_features)``: one flattened image a row (C order), with
  the shape given by ``image_shape`` or, when it is ``None`` and
  ``n_features`` is a perfect square, a square grayscale image (like
  scikit-learn's digits, where 64 values are an 8x8 image).

:func:`validate_images` turns any of these into images of shape ``(n, H,
W)`` or ``(n, H, W, C)`` with ``C > 1``.

Sequences (a set of equally long ones) are accepted as:

* ``(n_samples, n_steps, n_channels)``: the sequences themselves;
* ``(n_samples, n_steps)``: one univariate sequence a row;
* ``(n_samples, n_steps * n_channels)`` with ``sequence_shape=(n_steps,
  n_channels)``: one flattened multivariate sequence a row, step-major (the
  channels of step 0, then those of step 1, ...), the layout that
  ``SlidingWindows`` and ``X.reshape(n_samples, -1)`` give.

:func:`validate_sequences` turns any of them into an array of shape
``(n_samples, n_steps, n_channels)``. Both keep scikit-learn's fitted-input
bookkeeping (``n_features_in_``, ``feature_names_in_``) and record the
shape of one sample (``image_shape_``, ``sequence_shape_``).
"""

import math
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_array, validate_data

__all__ = [
    "check_image_shape",
    "check_layer_sizes",
    "check_sequence_shape",
    "infer_image_shape",
    "rows_to_images",
    "validate_images",
    "validate_samples",
    "validate_sequences",
]


def check_layer_sizes(sizes, name, allow_auto=False):
    """``sizes`` as a tuple of ints, or a clear ``ValueError`` unless it is a
    non-empty sequence of positive integers (or ``"auto"``, returned as it
    is, with ``allow_auto``): the widths of a network's layers.

    Examples
    --------
    >>> from skanomaly.utils._validation import check_layer_sizes
    >>> check_layer_sizes([64, 8], "hidden_units")
    (64, 8)
    >>> check_layer_sizes("auto", "filters", allow_auto=True)
    'auto'
    """
    if allow_auto and isinstance(sizes, str) and sizes == "auto":
        return sizes
    values = None if isinstance(sizes, str) else sizes
    try:
        ok = len(values) > 0 and all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in values
        )
    except TypeError:
        ok = False
    if not ok:
        expected = "'auto' or a non-empty" if allow_auto else "a non-empty"
        raise ValueError(
            f"{name} must be {expected} sequence of positive integers; got "
            f"{sizes!r}."
        )
    return tuple(int(v) for v in values)


def _read_nd(estimator, X, *, what, dtype, ensure_min_samples, reset, canonical=None):
    """``X`` of three or more dimensions, checked by scikit-learn's
    ``check_array``, with no empty sample, and, with ``reset``, the fitted
    input's bookkeeping (``n_features_in_``, no ``feature_names_in_``)."""
    array = check_array(
        X, allow_nd=True, dtype=dtype, input_name="X", estimator=estimator,
        ensure_min_samples=ensure_min_samples,
    )
    if canonical is not None:
        array = canonical(array)
    if 0 in array.shape[1:]:
        raise ValueError(
            f"{type(estimator).__name__} got empty {what}: X has shape {array.shape}."
        )
    if reset:
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        estimator.n_features_in_ = math.prod(array.shape[1:])
    return array


def check_image_shape(image_shape, name="image_shape"):
    """Check an image shape and return it in canonical form.

    Parameters
    ----------
    image_shape : tuple of int or None
        ``(height, width)`` or ``(height, width, channels)``, every entry a
        positive integer.
    name : str, default="image_shape"
        Name of the parameter, used in error messages.

    Returns
    -------
    image_shape : tuple of int or None
        ``None`` if ``image_shape`` is ``None``; otherwise a tuple of Python
        ints, with a single channel dropped: ``(H, W, 1)`` becomes
        ``(H, W)``.

    Examples
    --------
    >>> from skanomaly.utils._validation import check_image_shape
    >>> check_image_shape((8, 8, 1))
    (8, 8)
    >>> check_image_shape([32, 32, 3])
    (32, 32, 3)
    """
    if image_shape is None:
        return None
    try:
        values = tuple(image_shape)
    except TypeError:
        values = None
    if (
        values is None
        or len(values) not in (2, 3)
        or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in values
        )
    ):
        raise ValueError(
            f"{name} must be (height, width) or (height, width, channels) "
            f"with positive integers, got {image_shape!r}."
        )
    values = tuple(int(v) for v in values)
    if len(values) == 3 and values[2] == 1:
        values = values[:2]
    return values


def infer_image_shape(n_features):
    """Read rows of ``n_features`` values as square grayscale images.

    Parameters
    ----------
    n_features : int
        Number of values in a row.

    Returns
    -------
    image_shape : tuple of int
        ``(side, side)`` with ``side * side == n_features``.

    Raises
    ------
    ValueError
        If ``n_features`` is not a perfect square.

    Examples
    --------
    >>> from skanomaly.utils._validation import infer_image_shape
    >>> infer_image_shape(64)
    (8, 8)
    """
    side = math.isqrt(int(n_features))
    if side < 1 or side * side != n_features:
        raise ValueError(
            f"Cannot read rows of {n_features} values as images: "
            f"{n_features} is not a perfect square, so the image shape is "
            "unknown. Pass image_shape=(height, width) or "
            "(height, width, channels), or pass X as images of shape "
            "(n_samples, height, width[, channels])."
        )
    return (side, side)


def rows_to_images(X, image_shape):
    """Reshape flattened rows into images.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        One image a row, flattened in C order.
    image_shape : tuple of int
        Canonical image shape, as returned by :func:`check_image_shape`.

    Returns
    -------
    images : ndarray of shape (n_samples, *image_shape)
        A view of ``X`` where possible.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.utils._validation import rows_to_images
    >>> rows_to_images(np.arange(12.0).reshape(2, 6), (2, 3)).shape
    (2, 2, 3)
    """
    n_values = math.prod(image_shape)
    if X.shape[1] != n_values:
        raise ValueError(
            f"X has rows of {X.shape[1]} values, but images of shape "
            f"{image_shape} have {n_values} values "
            f"({' * '.join(str(s) for s in image_shape)}). Pass the "
            "image_shape of the flattened images."
        )
    return X.reshape((X.shape[0],) + tuple(image_shape))


def _canonical_images(images):
    """Drop a single channel axis: ``(n, H, W, 1)`` -> ``(n, H, W)``."""
    if images.ndim == 4 and images.shape[-1] == 1:
        return images[..., 0]
    return images


def validate_images(
    estimator, X, *, image_shape=None, reset=True, dtype=np.float64,
    ensure_min_samples=1,
):
    """Validate ``X`` and return it as an array of images.

    With ``reset=True`` (in ``fit``) this records on ``estimator``:

    * ``image_shape_``: the canonical image shape, ``(H, W)`` or
      ``(H, W, C)`` with ``C > 1``;
    * ``n_features_in_``: the number of values of one image, ``H * W * C``
      (for 2-D input the row width, as scikit-learn sets it);
    * ``feature_names_in_`` when ``X`` is a DataFrame of rows.

    With ``reset=False`` (in ``transform``, ``score_samples``...) ``X`` is
    checked against them, and 2-D rows are read with the fitted
    ``image_shape_``.

    Parameters
    ----------
    estimator : estimator instance
        The estimator being fitted or used.
    X : array-like
        Images of shape ``(n_samples, H, W)`` or ``(n_samples, H, W, C)``, or
        rows of shape ``(n_samples, H * W * C)`` (a DataFrame included).
    image_shape : tuple of int or None, default=None
        Shape of one image, checked with :func:`check_image_shape`. Needed
        to read 2-D rows whose width is not a perfect square; when ``X``
        holds images, their shape must agree with it. Only used when
        ``reset=True``.
    reset : bool, default=True
        Whether to record the fitted input (``True``) or check against it.
    dtype : data-type, default=np.float64
        Data type of the returned images.
    ensure_min_samples : int, default=1
        Fewest images accepted.

    Returns
    -------
    images : ndarray of shape (n_samples, H, W) or (n_samples, H, W, C)
        The images, with ``C > 1`` in the 4-D case.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skanomaly.utils._validation import validate_images
    >>> est = BaseEstimator()
    >>> validate_images(est, np.zeros((5, 64))).shape
    (5, 8, 8)
    >>> est.image_shape_, est.n_features_in_
    ((8, 8), 64)
    >>> validate_images(est, np.zeros((3, 8, 8, 1)), reset=False).shape
    (3, 8, 8)
    """
    name = type(estimator).__name__
    # The number of dimensions picks the reading; lists and other array-likes
    # are converted once here and validated below.
    if not hasattr(X, "ndim"):
        X = np.asarray(X)
    ndim = X.ndim
    if ndim == 1:
        raise ValueError(
            f"{name} expects images (n_samples, height, width[, channels]) "
            "or flattened images one a row (n_samples, n_features); got a "
            f"1-D array of shape {X.shape}. Reshape your data: X[np.newaxis] "
            "for a single image, X.reshape(1, -1) for a single flattened "
            "image."
        )
    if ndim < 2 or ndim > 4:
        raise ValueError(
            f"{name} expects images of shape (n_samples, height, width) or "
            "(n_samples, height, width, channels), or one flattened image a "
            f"row (n_samples, n_features); got a {ndim}-D array of shape "
            f"{X.shape}."
        )

    if reset:
        image_shape = check_image_shape(image_shape)
    else:
        image_shape = estimator.image_shape_

    if ndim == 2:
        X = validate_data(
            estimator, X, reset=reset, dtype=dtype,
            ensure_min_samples=ensure_min_samples,
        )
        if reset and image_shape is None:
            image_shape = infer_image_shape(X.shape[1])
        images = rows_to_images(X, image_shape)
    else:
        images = _read_nd(
            estimator, X, what="images", dtype=dtype,
            ensure_min_samples=ensure_min_samples, reset=reset,
            canonical=_canonical_images,
        )
        received = images.shape[1:]
        if reset:
            if image_shape is not None and received != image_shape:
                raise ValueError(
                    f"X holds images of shape {received}, but "
                    f"image_shape={image_shape}."
                )
        elif received != image_shape:
            raise ValueError(
                f"X holds images of shape {received}, but {name} was fitted "
                f"on images of shape {image_shape}."
            )
        image_shape = received

    if reset:
        estimator.image_shape_ = tuple(image_shape)
    return images


# --------------------------------------------------------------------------
# sequences


def check_sequence_shape(sequence_shape, name="sequence_shape"):
    """Check a sequence shape and return it as ``(n_steps, n_channels)``.

    Parameters
    ----------
    sequence_shape : int, tuple of int or None
        ``n_steps``, ``(n_steps,)`` or ``(n_steps, n_channels)``, every entry
        a positive integer; the first two mean one channel.
    name : str, default="sequence_shape"
        Name of the parameter, used in error messages.

    Returns
    -------
    sequence_shape : tuple of int or None
        ``None`` if ``sequence_shape`` is ``None``, else ``(n_steps,
        n_channels)`` as Python ints.

    Examples
    --------
    >>> from skanomaly.utils._validation import check_sequence_shape
    >>> check_sequence_shape(140)
    (140, 1)
    >>> check_sequence_shape([50, 3])
    (50, 3)
    """
    if sequence_shape is None:
        return None
    if isinstance(sequence_shape, Integral) and not isinstance(sequence_shape, bool):
        values = (sequence_shape,)
    else:
        try:
            values = tuple(sequence_shape)
        except TypeError:
            values = None
    if (
        values is None
        or len(values) not in (1, 2)
        or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in values
        )
    ):
        raise ValueError(
            f"{name} must be n_steps or (n_steps, n_channels) with positive "
            f"integers, got {sequence_shape!r}."
        )
    values = tuple(int(v) for v in values)
    return values if len(values) == 2 else (values[0], 1)


def _describe(shape):
    n_steps, n_channels = shape
    return (
        f"{n_steps} step{'s' if n_steps != 1 else ''} x "
        f"{n_channels} channel{'s' if n_channels != 1 else ''}"
    )


def validate_sequences(
    estimator,
    X,
    *,
    sequence_shape=None,
    reset=True,
    dtype=(np.float64, np.float32),
    ensure_min_samples=1,
):
    """Validate ``X`` and return it as an array of sequences.

    With ``reset=True`` (in ``fit``) this records on ``estimator``:

    * ``sequence_shape_``: ``(n_steps, n_channels)``;
    * ``n_features_in_``: the number of values of one sequence, ``n_steps *
      n_channels`` (for 2-D input the row width, as scikit-learn sets it);
    * ``feature_names_in_`` when ``X`` is a DataFrame of rows.

    With ``reset=False`` (in ``score_samples``, ``predict``...) ``X`` is
    checked against them, and 2-D rows are read with the fitted
    ``sequence_shape_``.

    Parameters
    ----------
    estimator : estimator instance
        The estimator being fitted or used.
    X : array-like
        Sequences of shape ``(n_samples, n_steps, n_channels)``, or rows of
        shape ``(n_samples, n_steps * n_channels)`` (a DataFrame included).
    sequence_shape : int, tuple of int or None, default=None
        Shape of one sequence, checked with :func:`check_sequence_shape`.
        Rows are univariate sequences (one value a step) when it is
        ``None``; when ``X`` is 3-D, its shape must agree with it. Only used
        when ``reset=True``.
    reset : bool, default=True
        Whether to record the fitted input (``True``) or check against it.
    dtype : data-type or tuple of data-types, default=(np.float64, np.float32)
        Accepted data types, as for :func:`~sklearn.utils.check_array`.
    ensure_min_samples : int, default=1
        Fewest sequences accepted.

    Returns
    -------
    sequences : ndarray of shape (n_samples, n_steps, n_channels)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skanomaly.utils._validation import validate_sequences
    >>> est = BaseEstimator()
    >>> validate_sequences(est, np.zeros((5, 12)), sequence_shape=(6, 2)).shape
    (5, 6, 2)
    >>> est.sequence_shape_, est.n_features_in_
    ((6, 2), 12)
    >>> validate_sequences(est, np.zeros((3, 6, 2)), reset=False).shape
    (3, 6, 2)
    """
    name = type(estimator).__name__
    if not hasattr(X, "ndim") and not hasattr(X, "__array__"):
        try:
            X = np.asarray(X)
        except ValueError as exc:
            raise ValueError(
                f"{name} needs sequences of equal length: X could not be read "
                f"as one array ({exc}). Pad or cut the sequences to one "
                "length, or cut a long series into windows with "
                "skanomaly.features.SlidingWindows."
            ) from None
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    if ndim > 3:
        raise ValueError(
            f"{name} expects sequences of shape (n_samples, n_steps, "
            "n_channels), or one sequence a row (n_samples, n_steps) or "
            "(n_samples, n_steps * n_channels) with sequence_shape; got a "
            f"{ndim}-D array of shape {X.shape}."
        )

    if reset:
        sequence_shape = check_sequence_shape(sequence_shape)
    else:
        sequence_shape = estimator.sequence_shape_

    if ndim <= 2:
        # scikit-learn's own checks and messages: 1-D input ("Reshape your
        # data"), NaN, sparse, empty, feature names, the number of features.
        X = validate_data(
            estimator,
            X,
            reset=reset,
            dtype=list(dtype) if isinstance(dtype, tuple) else dtype,
            ensure_min_samples=ensure_min_samples,
        )
        if sequence_shape is None:
            sequence_shape = (X.shape[1], 1)
        elif X.shape[1] != math.prod(sequence_shape):
            # Only reached in fit: later, validate_data checks the width.
            raise ValueError(
                f"X has rows of {X.shape[1]} values, but sequence_shape="
                f"{sequence_shape} ({_describe(sequence_shape)}) needs "
                f"{math.prod(sequence_shape)}. Pass the sequence_shape of the "
                "flattened sequences, or the sequences as a 3-D array."
            )
        sequences = X.reshape((X.shape[0], *sequence_shape))
    else:
        sequences = _read_nd(
            estimator, X, what="sequences",
            dtype=list(dtype) if isinstance(dtype, tuple) else dtype,
            ensure_min_samples=ensure_min_samples, reset=reset,
        )
        received = tuple(int(s) for s in sequences.shape[1:])
        if reset:
            if sequence_shape is not None and received != sequence_shape:
                raise ValueError(
                    f"X holds sequences of shape {received} "
                    f"({_describe(received)}), but sequence_shape="
                    f"{sequence_shape}."
                )
        elif received != sequence_shape:
            raise ValueError(
                f"X holds sequences of shape {received} ({_describe(received)}), "
                f"but {name} was fitted on sequences of shape {sequence_shape} "
                f"({_describe(sequence_shape)}). Every sequence must have the "
                "length and channels seen in fit."
            )
        sequence_shape = received

    if reset:
        estimator.sequence_shape_ = tuple(sequence_shape)
    return sequences


# --------------------------------------------------------------------------
# samples of any shape


def validate_samples(estimator, X, *, reset=True, ensure_min_samples=1):
    """Validate ``X``, samples of any shape, and return it as an array.

    For estimators whose samples are whatever their user's network takes:
    rows ``(n_samples, n_features)`` (a DataFrame included, read by
    scikit-learn's own :func:`~sklearn.utils.validation.validate_data`), or
    arrays ``(n_samples, *sample_shape)`` of any rank. With ``reset=True``
    (in ``fit``) this records ``sample_shape_`` and ``n_features_in_`` (the
    number of values of one sample); with ``reset=False`` ``X`` must hold
    samples of that shape.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skanomaly.utils._validation import validate_samples
    >>> est = BaseEstimator()
    >>> validate_samples(est, np.zeros((5, 4, 3, 2))).shape
    (5, 4, 3, 2)
    >>> est.sample_shape_, est.n_features_in_
    ((4, 3, 2), 24)
    """
    name = type(estimator).__name__
    if not hasattr(X, "ndim"):
        X = np.asarray(X)
    if X.ndim <= 2:
        X = validate_data(
            estimator, X, reset=reset, dtype=[np.float64, np.float32],
            ensure_min_samples=ensure_min_samples,
        )
    else:
        X = _read_nd(
            estimator, X, what="samples", dtype=[np.float64, np.float32],
            ensure_min_samples=ensure_min_samples, reset=reset,
        )
    received = tuple(int(s) for s in X.shape[1:])
    if reset:
        estimator.sample_shape_ = received
    elif received != estimator.sample_shape_:
        raise ValueError(
            f"X holds samples of shape {received}, but {name} was fitted on "
            f"samples of shape {estimator.sample_shape_}."
        )
    return X


def check_finite_output(values, X, owner, what="scores"):
    """``values`` computed from ``X``, or a ValueError if any is NaN or
    infinite.

    Finite input can still overflow a computation (values near the largest
    float, or beyond float32's range for a network that computes in
    float32); a NaN score would then pass for a normal sample, since
    ``NaN < 0`` is false. The error names the problem and the input's
    largest magnitude.
    """
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        largest = float(np.max(np.abs(np.asarray(X, dtype=np.float64))))
        raise ValueError(
            f"{owner}: the {what} of {int(bad.sum())} of the {bad.size} "
            f"samples are NaN or infinite: their values overflow the "
            f"computation (the largest magnitude in X is {largest:.3g}). "
            "Give X on the scale of the training data."
        )
    return values
