"""Cutting images into patches, and patch scores back into anomaly maps.

Patch-based detectors (Patch SVDD, PatchCore and their kind) learn from
small patches of normal images and localise defects by scoring the patches
of a test image. :func:`extract_patches` cuts the patches and says where
each came from; :func:`patch_scores_to_maps` spreads one score a patch back
over the pixels it covers, giving an anomaly map at the image's resolution.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array

__all__ = ["PatchExtractor", "extract_patches", "patch_scores_to_maps"]


def _check_pair(value, name, allow_none=False):
    """Return ``value`` as a pair of positive ints (an int is a square)."""
    if value is None and allow_none:
        return None
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value, value)
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
            f"{name} must be (rows, columns) with positive integers, or one "
            f"positive integer; got {value!r}."
        )
    return int(pair[0]), int(pair[1])


def _check_image_input(images):
    """Return a list of images (2-D, or 3-D with channels last), checked."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("images is empty; at least one image is required.")
        items = list(images)
    else:
        array = np.asarray(images) if not hasattr(images, "shape") else images
        ndim = len(array.shape)
        if ndim not in (3, 4):
            hint = (
                " A 2-D array is read neither as one image nor as rows: pass "
                "image[np.newaxis] for one image, or reshape flattened rows to "
                "(n_samples, height, width)."
                if ndim == 2
                else ""
            )
            raise ValueError(
                "images must be an array of shape (n_images, height, width) or "
                "(n_images, height, width, channels), or a list of 2-D or 3-D "
                f"arrays; got a {ndim}-D array of shape {array.shape}.{hint}"
            )
        if array.shape[0] == 0:
            raise ValueError("images is empty; at least one image is required.")
        items = list(np.asarray(array))
    checked = []
    for i, image in enumerate(items):
        image = check_array(
            image,
            ensure_2d=False,
            allow_nd=True,
            dtype="numeric",
            input_name=f"images[{i}]",
        )
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.ndim not in (2, 3) or 0 in image.shape:
            raise ValueError(
                f"images[{i}] must be a non-empty image of shape (height, width) "
                f"or (height, width, channels), got shape {image.shape}."
            )
        checked.append(image)
    channels = {image.shape[2:] for image in checked}
    if len(channels) > 1:
        raise ValueError(
            "images mix numbers of channels "
            f"({sorted(c[0] if c else 1 for c in channels)}); patches of all "
            "images are stacked into one array, so convert them to one colour "
            "first, e.g. with ImageResizer(color='gray')."
        )
    return checked


def _grid_starts(size, patch, stride, cover_edges):
    starts = list(range(0, size - patch + 1, stride))
    if cover_edges and starts[-1] != size - patch:
        starts.append(size - patch)
    return np.asarray(starts)


def extract_patches(
    images,
    patch_size,
    *,
    stride=None,
    n_patches=None,
    cover_edges=True,
    random_state=None,
    return_positions=False,
):
    """Cut images into patches, on a grid or at random.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width), \
            (n_images, height, width, channels) or list of arrays
        The images; a list may hold images of varying sizes (all with the
        same number of channels). Every image must be at least as large as
        a patch.
    patch_size : int or tuple of int
        ``(rows, columns)`` of a patch; an int is a square.
    stride : int or tuple of int, default=None
        Step between the top-left corners of neighbouring grid patches;
        ``None`` is ``patch_size`` (patches that do not overlap). Ignored
        for random patches.
    n_patches : int, default=None
        ``None`` cuts every image on a grid. An int cuts that many patches
        from each image instead, at positions drawn uniformly (with
        replacement) among all the places a patch fits.
    cover_edges : bool, default=True
        For grid patches: when the stride does not end exactly at the
        bottom (right) edge, add a last row (column) of patches flush with
        that edge, so that every pixel is in at least one patch. With
        ``False`` the grid stops at the last full step and the pixels past
        it are left out.
    random_state : int, RandomState instance or None, default=None
        Draws the positions of random patches. Pass an int for the same
        patches at every call.
    return_positions : bool, default=False
        Also return where each patch comes from.

    Returns
    -------
    patches : ndarray of shape (n_patches_total, rows, columns) or \
            (n_patches_total, rows, columns, channels)
        The patches, of the images' dtype. They come image by image, in the
        order of ``images``; within an image, grid patches come row by row
        (top to bottom, each row left to right), and random patches in the
        order they were drawn.
    positions : ndarray of shape (n_patches_total, 3), dtype=int
        Returned when ``return_positions=True``: for each patch, the index
        of its image and the row and column of its top-left pixel.

    Raises
    ------
    ValueError
        If an image is smaller than a patch, if the images are not 2-D or
        3-D or mix numbers of channels, or if they hold NaN or infinity.

    See Also
    --------
    PatchExtractor : This function as a transformer.
    patch_scores_to_maps : Turn one score a patch into anomaly maps.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.features import extract_patches
    >>> images = np.arange(2 * 6 * 6).reshape(2, 6, 6)
    >>> patches, positions = extract_patches(images, 4, stride=2,
    ...                                      return_positions=True)
    >>> patches.shape
    (8, 4, 4)
    >>> positions[:4]
    array([[0, 0, 0],
           [0, 0, 2],
           [0, 2, 0],
           [0, 2, 2]])
    >>> extract_patches(images, (3, 3), n_patches=5, random_state=0).shape
    (10, 3, 3)
    """
    patch_size = _check_pair(patch_size, "patch_size")
    stride = _check_pair(stride, "stride", allow_none=True) or patch_size
    if n_patches is not None and (
        not isinstance(n_patches, Integral)
        or isinstance(n_patches, bool)
        or n_patches < 1
    ):
        raise ValueError(
            f"n_patches must be None or a positive integer, got {n_patches!r}."
        )
    images = _check_image_input(images)
    rng = check_random_state(random_state) if n_patches is not None else None
    ph, pw = patch_size

    all_patches, all_positions = [], []
    for i, image in enumerate(images):
        height, width = image.shape[:2]
        if height < ph or width < pw:
            raise ValueError(
                f"images[{i}] of size {height}x{width} is smaller than a patch "
                f"of patch_size={patch_size}."
            )
        if n_patches is None:
            rows = _grid_starts(height, ph, stride[0], cover_edges)
            cols = _grid_starts(width, pw, stride[1], cover_edges)
            rows, cols = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
        else:
            rows = rng.randint(0, height - ph + 1, size=n_patches)
            cols = rng.randint(0, width - pw + 1, size=n_patches)
        windows = np.lib.stride_tricks.sliding_window_view(image, (ph, pw), axis=(0, 1))
        patches = windows[rows, cols]  # (k, [C,] ph, pw): window axes last
        if image.ndim == 3:
            patches = np.moveaxis(patches, 1, -1)
        all_patches.append(patches)
        all_positions.append(np.column_stack([np.full(rows.shape, i), rows, cols]))

    patches = np.ascontiguousarray(np.concatenate(all_patches))
    if return_positions:
        return patches, np.concatenate(all_positions).astype(np.intp)
    return patches


def patch_scores_to_maps(
    patch_scores, positions, patch_size, image_shape, *, n_images=None, reduce="mean"
):
    """Spread one score a patch over its pixels, giving anomaly maps.

    Each pixel gets the mean (or the maximum) of the scores of the patches
    that cover it: how patch-based detectors such as Patch SVDD turn patch
    scores into a map at the image's resolution.

    Parameters
    ----------
    patch_scores : array-like of shape (n_patches_total,)
        One score a patch, finite, in the order of ``positions``. Pass
        anomaly scores (higher is more anomalous) for anomaly maps.
    positions : array-like of shape (n_patches_total, 3)
        Image index, top row and left column of each patch, as returned by
        :func:`extract_patches` with ``return_positions=True``.
    patch_size : int or tuple of int
        ``(rows, columns)`` of a patch, as given to :func:`extract_patches`.
    image_shape : tuple of int
        ``(height, width)`` of the images (all of one size).
    n_images : int, default=None
        Number of maps; ``None`` is one more than the largest image index.
    reduce : {"mean", "max"}, default="mean"
        How the scores of overlapping patches combine.

    Returns
    -------
    maps : ndarray of shape (n_images, height, width)
        The anomaly maps, float64. A pixel that no patch covers is NaN (it
        cannot happen for grid patches with ``cover_edges=True``).

    Raises
    ------
    ValueError
        If the scores are not finite, if the lengths differ, or if a patch
        lies outside ``image_shape`` or its image index is out of range.

    See Also
    --------
    extract_patches : Cut the patches and get their positions.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.features import extract_patches, patch_scores_to_maps
    >>> images = np.zeros((1, 4, 4))
    >>> patches, positions = extract_patches(images, 2, return_positions=True)
    >>> scores = np.array([0.0, 1.0, 2.0, 3.0])  # one a patch, row by row
    >>> patch_scores_to_maps(scores, positions, 2, (4, 4))[0]
    array([[0., 0., 1., 1.],
           [0., 0., 1., 1.],
           [2., 2., 3., 3.],
           [2., 2., 3., 3.]])
    """
    ph, pw = _check_pair(patch_size, "patch_size")
    height, width = _check_pair(image_shape, "image_shape")
    if reduce not in ("mean", "max"):
        raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}.")
    scores = check_array(
        patch_scores, ensure_2d=False, dtype=np.float64, input_name="patch_scores"
    )
    positions = check_array(positions, dtype=None, input_name="positions")
    if scores.ndim != 1:
        raise ValueError(
            f"patch_scores must be 1-D (one score a patch), got shape {scores.shape}."
        )
    if positions.shape[1] != 3 or positions.dtype.kind not in "iu":
        raise ValueError(
            "positions must be integers of shape (n_patches_total, 3): image "
            "index, row and column of each patch, as extract_patches returns; "
            f"got shape {positions.shape} and dtype {positions.dtype}."
        )
    if positions.shape[0] != scores.shape[0]:
        raise ValueError(
            f"patch_scores and positions have different lengths: "
            f"{scores.shape[0]} != {positions.shape[0]}."
        )
    index, rows, cols = positions.T.astype(np.intp)
    if n_images is None:
        n_images = int(index.max()) + 1
    if (
        index.min() < 0
        or index.max() >= n_images
        or rows.min() < 0
        or cols.min() < 0
        or (rows + ph).max() > height
        or (cols + pw).max() > width
    ):
        raise ValueError(
            f"positions hold patches of size {(ph, pw)} outside {n_images} "
            f"images of shape {(height, width)}."
        )

    if reduce == "max":
        maps = np.full((n_images, height, width), -np.inf)
        for score, i, r, c in zip(scores, index, rows, cols):
            window = maps[i, r : r + ph, c : c + pw]
            np.maximum(window, score, out=window)
        maps[np.isneginf(maps)] = np.nan
        return maps

    # Sum and count with 2-D difference arrays: +s at the top-left corner of
    # each patch, -s just past its right and bottom edges, +s past both; the
    # cumulative sums over rows and columns then fill the rectangles.
    def fill(values):
        diff = np.zeros((n_images, height + 1, width + 1), dtype=values.dtype)
        np.add.at(diff, (index, rows, cols), values)
        np.add.at(diff, (index, rows + ph, cols), -values)
        np.add.at(diff, (index, rows, cols + pw), -values)
        np.add.at(diff, (index, rows + ph, cols + pw), values)
        return diff.cumsum(axis=1).cumsum(axis=2)[:, :height, :width]

    sums = fill(scores)
    counts = fill(np.ones(scores.shape, dtype=np.int64))
    with np.errstate(invalid="ignore", divide="ignore"):
        maps = sums / counts
    maps[counts == 0] = np.nan
    return maps


class PatchExtractor(TransformerMixin, BaseEstimator):
    """Cut images into patches: a transformer around :func:`extract_patches`.

    ``transform`` returns the patches of all images stacked in one array,
    image by image (grid patches row by row within an image). Because it
    returns more samples than it is given, it cannot sit in a
    :class:`~sklearn.pipeline.Pipeline` in front of a detector, whose
    ``predict`` must give one label an image. Use it to make training
    patches, alone or at the end of a pipeline of transformers, for
    example ``make_pipeline(ImageLoader(), ImageResizer((128, 128)),
    PatchExtractor((32, 32))).fit_transform(paths)``; to score an image
    patch by patch and get a map, call :func:`extract_patches` with
    ``return_positions=True`` and :func:`patch_scores_to_maps`.

    The transformer is stateless: ``fit`` only checks the parameters.

    Parameters
    ----------
    patch_size : int or tuple of int, default=(8, 8)
        ``(rows, columns)`` of a patch; an int is a square.
    stride : int or tuple of int, default=None
        Step of the grid; ``None`` is ``patch_size`` (no overlap).
    n_patches : int, default=None
        ``None`` cuts every image on a grid; an int cuts that many random
        patches from each image.
    cover_edges : bool, default=True
        Add grid patches flush with the bottom and right edges so that
        every pixel is covered. See :func:`extract_patches`.
    random_state : int, RandomState instance or None, default=None
        Draws the positions of random patches.

    See Also
    --------
    extract_patches : The function this transformer applies, which can
        also return the patches' positions.
    sklearn.feature_extraction.image.PatchExtractor : scikit-learn's, which
        cuts every patch or a random subset, for grayscale or colour images
        of one size.

    Notes
    -----
    scikit-learn's estimator checks, which expect one output row per input
    row, do not apply to a transformer that changes the number of samples.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.features import PatchExtractor
    >>> images = np.random.RandomState(0).uniform(size=(3, 32, 32))
    >>> PatchExtractor(patch_size=(8, 8)).fit_transform(images).shape
    (48, 8, 8)
    >>> PatchExtractor(16, stride=8).fit_transform(images).shape
    (27, 16, 16)
    >>> PatchExtractor(8, n_patches=10, random_state=0).fit_transform(images).shape
    (30, 8, 8)
    """

    _parameter_constraints: dict = {
        "patch_size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "stride": [None, Interval(Integral, 1, None, closed="left"), "array-like"],
        "n_patches": [None, Interval(Integral, 1, None, closed="left")],
        "cover_edges": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        patch_size=(8, 8),
        stride=None,
        n_patches=None,
        cover_edges=True,
        random_state=None,
    ):
        self.patch_size = patch_size
        self.stride = stride
        self.n_patches = n_patches
        self.cover_edges = cover_edges
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width), \
                (n_images, height, width, channels) or list of arrays
            Images; not used.

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The transformer.
        """
        _check_pair(self.patch_size, "patch_size")
        _check_pair(self.stride, "stride", allow_none=True)
        return self

    def transform(self, X):
        """Cut the images into patches.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width), \
                (n_images, height, width, channels) or list of arrays
            Images, each at least as large as a patch.

        Returns
        -------
        patches : ndarray of shape (n_patches_total, rows, columns) or \
                (n_patches_total, rows, columns, channels)
            The patches, image by image.
        """
        self._validate_params()
        return extract_patches(
            X,
            self.patch_size,
            stride=self.stride,
            n_patches=self.n_patches,
            cover_edges=self.cover_edges,
            random_state=self.random_state,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = (
            self.n_patches is not None and self.random_state is None
        )
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
