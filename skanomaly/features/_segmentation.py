"""Unsupervised segmentation of images by colour, as a scikit-learn transformer."""

from numbers import Integral, Real

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..utils._validation import validate_images

__all__ = ["ColourSegmenter"]


class ColourSegmenter(TransformerMixin, BaseEstimator):
    """Segment images into classes of colour, learnt by k-means.

    Each image is smoothed with a Gaussian of standard deviation ``sigma``
    pixels (each channel apart), then every pixel gets the label of the
    nearest of ``n_segments`` colours, the centres of a k-means clustering
    of the smoothed pixels of the training images. Labels are numbered by
    brightness, ``0`` the darkest colour (the mean of a centre's
    channels), so that a refit on the same images gives the same labels.

    A segmentation that needs no annotation and no pretrained model: the
    default segmentation step of :class:`~skanomaly.SynthesizeCompare`, for
    images (industrial surfaces, say) whose parts differ by their colour or
    brightness. The smoothing makes the labels follow regions rather than
    the fine texture inside them, which is what a synthesis from the
    segmentation is then asked to fill in.

    Parameters
    ----------
    n_segments : int, default=4
        Number of colour classes (k-means clusters), at least 2. The
        training images must have at least that many distinct smoothed
        pixel colours.

    sigma : float, default=1.0
        Standard deviation, in pixels, of the Gaussian smoothing applied to
        each image before its pixels are clustered and labelled. ``0``
        labels the raw pixels.

    output : {"labels", "onehot"}, default="labels"
        ``"labels"``: one integer label a pixel; ``"onehot"``: one channel a
        class, 1.0 on the pixels of that class and 0.0 elsewhere.

    max_pixels : int or None, default=100_000
        Largest number of training pixels k-means is fitted on, drawn at
        random (``random_state``) when the training images hold more.
        ``None`` fits on all of them.

    image_shape : tuple of int, default=None
        Shape ``(height, width)`` or ``(height, width, channels)`` of one
        image, to read 2-D input of flattened images (one a row, C order).
        When ``None``, rows are read as square grayscale images if their
        width is a perfect square, and refused otherwise.

    random_state : int, RandomState instance or None, default=None
        Draws the training pixels (see ``max_pixels``) and the initial
        centres of k-means.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_segments, n_channels)
        The colour of each class, in the units of the (smoothed) images,
        in the order of the labels (darkest first).

    image_shape_ : tuple of int
        Shape of the images seen in :meth:`fit`: ``(height, width)`` for
        grayscale images, ``(height, width, channels)`` with ``channels >
        1`` for colour images.

    n_features_in_ : int
        Number of values of one image, ``height * width * channels``: the
        row width for 2-D input.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`. Defined only when `X`
        is a DataFrame of flattened images with string column names.

    See Also
    --------
    skanomaly.SynthesizeCompare : Resynthesises images from their
        segmentation and compares; this transformer is its default
        segmentation step.
    sklearn.cluster.KMeans : The clustering of the pixel colours.

    Notes
    -----
    Input of shape ``(n_samples, height, width)`` is read as grayscale
    images, ``(n_samples, height, width, channels)`` as images with the
    channels last; a single channel is grayscale. Pixel values are
    clustered as given: channels of very different ranges weigh
    accordingly.

    The output has the layout of the input: ``(n_samples, height, width)``
    (labels) or ``(n_samples, height, width, n_segments)`` (one-hot) for
    images, and the same values flattened into rows for 2-D input. Labels
    are integers (``np.intp``), one-hot maps float64.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.features import ColourSegmenter
    >>> X = np.zeros((4, 6, 6))
    >>> X[:, :, 3:] = 1.0                        # bright right halves
    >>> segmenter = ColourSegmenter(n_segments=2, sigma=0).fit(X)
    >>> segmenter.transform(X[:1])[0, 0]
    array([0, 0, 0, 1, 1, 1])
    >>> ColourSegmenter(n_segments=2, output="onehot").fit_transform(X).shape
    (4, 6, 6, 2)
    """

    _parameter_constraints: dict = {
        "n_segments": [Interval(Integral, 2, None, closed="left")],
        "sigma": [Interval(Real, 0.0, None, closed="left")],
        "output": [StrOptions({"labels", "onehot"})],
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
        "image_shape": [None, "array-like"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_segments=4,
        *,
        sigma=1.0,
        output="labels",
        max_pixels=100_000,
        image_shape=None,
        random_state=None,
    ):
        self.n_segments = n_segments
        self.sigma = sigma
        self.output = output
        self.max_pixels = max_pixels
        self.image_shape = image_shape
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the colours of the classes from the training images.

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
        images = validate_images(self, X, image_shape=self.image_shape)
        pixels = self._pixels(images)
        n_distinct = len(np.unique(pixels, axis=0))
        if n_distinct < self.n_segments:
            raise ValueError(
                f"{type(self).__name__}(n_segments={self.n_segments}) needs "
                f"at least {self.n_segments} distinct pixel colours in the "
                f"training images (after smoothing with sigma={self.sigma}); "
                f"they have {n_distinct}. Lower n_segments or pass more "
                "varied images."
            )
        rng = check_random_state(self.random_state)
        if self.max_pixels is not None and len(pixels) > self.max_pixels:
            pixels = pixels[rng.choice(len(pixels), self.max_pixels, replace=False)]
        kmeans = KMeans(
            n_clusters=self.n_segments, n_init=1, random_state=rng
        ).fit(pixels)
        centers = kmeans.cluster_centers_
        # Darkest first: the labels do not depend on k-means' own order.
        self.cluster_centers_ = centers[np.argsort(centers.mean(axis=1), kind="stable")]
        return self

    def transform(self, X):
        """Label every pixel with its nearest class colour.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images of the shape seen in :meth:`fit`, or flattened images one
            a row.

        Returns
        -------
        segmentation : ndarray
            ``(n_samples, height, width)`` labels from 0 to ``n_segments -
            1``, or ``(n_samples, height, width, n_segments)`` one-hot maps
            (``output``); flattened into rows when ``X`` is 2-D.
        """
        check_is_fitted(self, "cluster_centers_")
        rows = getattr(X, "ndim", np.ndim(X)) == 2
        images = validate_images(self, X, reset=False)
        n_images = images.shape[0]
        height, width = self.image_shape_[:2]
        pixels = self._pixels(images)
        # Squared distances of every pixel to every centre.
        distances = (
            np.sum(pixels**2, axis=1, keepdims=True)
            - 2.0 * pixels @ self.cluster_centers_.T
            + np.sum(self.cluster_centers_**2, axis=1)
        )
        labels = np.argmin(distances, axis=1).astype(np.intp)
        labels = labels.reshape(n_images, height, width)
        if self.output == "onehot":
            out = np.eye(len(self.cluster_centers_))[labels]
        else:
            out = labels
        return out.reshape(n_images, -1) if rows else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        # Integer labels, or one-hot maps always in float64.
        tags.transformer_tags.preserves_dtype = (
            ["float64"] if self.output == "onehot" else []
        )
        return tags

    def _pixels(self, images):
        """The smoothed pixels of images ``(n, H, W[, C])`` as rows
        ``(n * H * W, C)``."""
        if images.ndim == 3:
            images = images[..., np.newaxis]
        if self.sigma > 0:
            # Spatial smoothing only: neither across images nor channels.
            images = ndimage.gaussian_filter(
                images, sigma=(0, self.sigma, self.sigma, 0), mode="nearest"
            )
        return images.reshape(-1, images.shape[-1])
