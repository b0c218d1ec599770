"""Histograms of oriented gradients (HOG) as a scikit-learn transformer."""

from numbers import Integral

import numpy as np
from skimage.feature import hog
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..utils._validation import check_finite_output, validate_images

__all__ = ["HOGTransformer"]


def _check_pair(value, name):
    """Return ``value`` as a pair of positive Python ints, or raise."""
    try:
        pair = tuple(value)
    except TypeError:
        pair = None
    if (
        pair is None
        or len(pair) != 2
        or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in pair
        )
    ):
        raise ValueError(
            f"{name} must be a pair (rows, columns) of positive integers, "
            f"got {value!r}."
        )
    return int(pair[0]), int(pair[1])


class HOGTransformer(TransformerMixin, BaseEstimator):
    """Histograms of oriented gradients of images.

    Turns each image into its HOG descriptor with
    :func:`skimage.feature.hog`: the image is cut into cells of
    ``pixels_per_cell`` pixels, each cell gets a histogram of its gradient
    orientations, and the histograms are normalised over overlapping
    blocks of ``cells_per_block`` cells. The descriptor is a classical,
    training-free image representation; followed by a
    :class:`~sklearn.svm.OneClassSVM` it makes a strong anomaly detection
    baseline (see :func:`make_hog_ocsvm`).

    The transformer learns nothing but the shape of the images, which
    ``transform`` then requires.

    Parameters
    ----------
    orientations : int, default=9
        Number of orientation bins of each histogram.

    pixels_per_cell : tuple of int, default=(8, 8)
        Size ``(rows, columns)`` of a cell, in pixels.

    cells_per_block : tuple of int, default=(3, 3)
        Size ``(rows, columns)`` of a normalisation block, in cells. An
        image must hold at least one block: ``height >= pixels_per_cell[0]
        * cells_per_block[0]`` and likewise for the width.

    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default="L2-Hys"
        Block normalisation method, see :func:`skimage.feature.hog`.

    transform_sqrt : bool, default=False
        Apply power law compression (square root) to the images before
        computing the gradients. The images must then be non-negative.

    image_shape : tuple of int, default=None
        Shape ``(height, width)`` or ``(height, width, channels)`` of one
        image, used to read 2-D input of flattened images (one a row, C
        order). When ``None``, 2-D rows are read as square grayscale images
        if their width is a perfect square (64 values make an 8x8 image, as
        in :func:`~sklearn.datasets.load_digits`), and refused otherwise.
        Images given as a 3-D or 4-D array must have this shape.

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of the images seen in :meth:`fit`: ``(height, width)`` for
        grayscale images, ``(height, width, channels)`` with ``channels >
        1`` for colour images (a single channel is read as grayscale).

    n_features_in_ : int
        Number of values of one image, ``height * width * channels``: the
        row width for 2-D input.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`. Defined only when `X`
        is a DataFrame of flattened images with string column names.

    n_features_out_ : int
        Length of the HOG descriptor of one image.

    See Also
    --------
    make_hog_ocsvm : HOG features, standardisation and a One-Class SVM in
        one pipeline.
    skimage.feature.hog : The function this transformer applies.

    Notes
    -----
    Input of shape ``(n_samples, height, width)`` is read as grayscale
    images, ``(n_samples, height, width, channels)`` as images with the
    channels last (``channel_axis=-1`` in scikit-image); ``channels == 1``
    is grayscale. Integer images are converted to float64 without
    rescaling. Pixel values are used as given: HOG is invariant to a
    positive scaling of the image only up to the ``eps`` of the block
    normalisation.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skanomaly.features import HOGTransformer
    >>> X = load_digits().data  # 64 values a row: 8x8 images
    >>> hog = HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    >>> features = hog.fit_transform(X)
    >>> hog.image_shape_
    (8, 8)
    >>> features.shape
    (1797, 36)
    >>> hog.get_feature_names_out()[:3]
    array(['hog0', 'hog1', 'hog2'], dtype=object)
    """

    _parameter_constraints: dict = {
        "orientations": [Interval(Integral, 1, None, closed="left")],
        "pixels_per_cell": ["array-like"],
        "cells_per_block": ["array-like"],
        "block_norm": [StrOptions({"L1", "L1-sqrt", "L2", "L2-Hys"})],
        "transform_sqrt": ["boolean"],
        "image_shape": [None, "array-like"],
    }

    def __init__(
        self,
        orientations=9,
        pixels_per_cell=(8, 8),
        cells_per_block=(3, 3),
        block_norm="L2-Hys",
        transform_sqrt=False,
        image_shape=None,
    ):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.transform_sqrt = transform_sqrt
        self.image_shape = image_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the image shape and check that HOG applies to it.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images, or flattened images one a row (see ``image_shape``).

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        cell = _check_pair(self.pixels_per_cell, "pixels_per_cell")
        block = _check_pair(self.cells_per_block, "cells_per_block")
        images = validate_images(self, X, image_shape=self.image_shape)
        self._check_values(images)

        height, width = self.image_shape_[:2]
        for i, (axis, size) in enumerate((("height", height), ("width", width))):
            minimum = cell[i] * block[i]
            if size < minimum:
                raise ValueError(
                    f"Images of shape {self.image_shape_} are too small for "
                    f"HOG: the image {axis} is {size}, but one block of "
                    f"cells_per_block={block} cells of pixels_per_cell={cell} "
                    f"pixels needs an image {axis} of at least {minimum} "
                    f"(pixels_per_cell[{i}] * cells_per_block[{i}]). Lower "
                    "pixels_per_cell or cells_per_block."
                )

        n_blocks_row = height // cell[0] - block[0] + 1
        n_blocks_col = width // cell[1] - block[1] + 1
        self.n_features_out_ = (
            n_blocks_row * n_blocks_col * block[0] * block[1] * self.orientations
        )
        return self

    def transform(self, X):
        """Compute the HOG descriptor of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images of the shape seen in :meth:`fit`, or flattened images one
            a row.

        Returns
        -------
        X_hog : ndarray of shape (n_samples, `n_features_out_`)
            The HOG descriptors, as float64.
        """
        # n_features_out_ is set last in fit, once the images proved usable
        check_is_fitted(self, "n_features_out_")
        images = validate_images(self, X, reset=False)
        self._check_values(images)

        channel_axis = -1 if len(self.image_shape_) == 3 else None
        cell = _check_pair(self.pixels_per_cell, "pixels_per_cell")
        block = _check_pair(self.cells_per_block, "cells_per_block")
        X_hog = np.empty((images.shape[0], self.n_features_out_), dtype=np.float64)
        for i, image in enumerate(images):
            X_hog[i] = hog(
                image,
                orientations=self.orientations,
                pixels_per_cell=cell,
                cells_per_block=block,
                block_norm=self.block_norm,
                transform_sqrt=self.transform_sqrt,
                feature_vector=True,
                channel_axis=channel_axis,
            )
        return check_finite_output(X_hog, images, type(self).__name__, "HOG features")

    def get_feature_names_out(self, input_features=None):
        """Get output feature names for transformation.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the fitted input: its length must be
            `n_features_in_` and, if `feature_names_in_` is defined, it must
            be equal to it. The HOG features are named ``hog0``, ``hog1``,
            and so on, whatever the input names.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``["hog0", "hog1", ..., "hog<n_features_out_ - 1>"]``.
        """
        check_is_fitted(self, "n_features_out_")
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            names_in = getattr(self, "feature_names_in_", None)
            if names_in is not None and not np.array_equal(
                names_in, input_features
            ):
                raise ValueError("input_features is not equal to feature_names_in_")
            if len(input_features) != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to number of "
                    f"features ({self.n_features_in_}), got "
                    f"{len(input_features)}"
                )
        return np.asarray(
            [f"hog{i}" for i in range(self.n_features_out_)], dtype=object
        )

    def _check_values(self, images):
        """Refuse negative pixels when ``transform_sqrt`` would make NaN."""
        if self.transform_sqrt and images.size and images.min() < 0:
            raise ValueError(
                "transform_sqrt=True takes the square root of the images, "
                "which needs non-negative pixel values; X has negative "
                "values. Rescale the images or set transform_sqrt=False."
            )
