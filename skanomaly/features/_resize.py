"""Reading image files, and bringing images of any size to one size.

:class:`ImageLoader` turns a list of file paths into a list of float images,
and :class:`ImageResizer` turns images of varying sizes (a list, or an array)
into one array of a fixed size, so that a
:class:`~sklearn.pipeline.Pipeline` can start from a folder of image files.
"""

import os
from numbers import Integral

import numpy as np
from skimage.transform import resize
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..utils._validation import (
    _canonical_images,
    check_image_shape,
    infer_image_shape,
    rows_to_images,
)

__all__ = ["ImageLoader", "ImageResizer", "load_images"]

# The luminance weights of ITU-R BT.709, those of skimage.color.rgb2gray.
_GRAY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])

_COLORS = {"keep", "gray", "rgb"}


# ------------------------------------------------------------------ colour


def _convert_color(image, color, where):
    """Convert one float image, ``(H, W)`` or ``(H, W, C)``, to ``color``.

    Channels are read as: 1 gray, 2 gray and alpha, 3 RGB, 4 RGBA. Alpha is
    dropped when converting.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if color == "keep":
        return image
    n_channels = 1 if image.ndim == 2 else image.shape[2]
    if n_channels not in (1, 2, 3, 4):
        raise ValueError(
            f"{where} has {n_channels} channels, which cannot be converted to "
            f"color={color!r}: only images with 1 (gray), 2 (gray and alpha), 3 "
            "(RGB) or 4 (RGBA) channels can. Use color='keep' to keep the "
            "channels as they are."
        )
    if n_channels == 2:  # gray and alpha
        image, n_channels = image[:, :, 0], 1
    if color == "gray":
        if n_channels == 1:
            return image
        return image[:, :, :3] @ _GRAY_WEIGHTS.astype(image.dtype)
    # color == "rgb"
    if n_channels == 1:
        return np.repeat(image[:, :, np.newaxis], 3, axis=2)
    return image[:, :, :3]


def _check_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}.")
    return dtype


# ------------------------------------------------------------- image files


def _check_paths(X):
    """Return ``X`` as a list of paths, or raise."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"X must be a list of image paths, got a single path {X!r}; pass "
            "[path] for one image."
        )
    if hasattr(X, "shape") and len(X.shape) == 2 and X.shape[1] == 1:
        X = np.asarray(X, dtype=object).ravel()  # a one-column DataFrame
    if hasattr(X, "shape") and len(X.shape) != 1:
        raise ValueError(
            f"X must be a 1-D list of image paths, got an array of shape "
            f"{X.shape}."
        )
    try:
        paths = list(X)
    except TypeError:
        raise TypeError(
            f"X must be a list of image paths (str or pathlib.Path), got "
            f"{type(X).__name__}."
        ) from None
    if not paths:
        raise ValueError("X is empty; at least one image path is required.")
    for i, path in enumerate(paths):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                "X must hold image paths (str or pathlib.Path); X[{}] is {} "
                "of type {}.".format(i, _short_repr(path), type(path).__name__)
            )
    return paths


def _short_repr(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_image_file(path, where="image"):
    """Read one image file as a float array in ``[0, 1]``.

    Returns ``(H, W)`` for a grayscale file and ``(H, W, 3)`` for a colour
    one; an alpha channel is dropped.
    """
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{where}: no such image file: {path!r}.")
    if os.path.isdir(path):
        raise ValueError(f"{where}: {path!r} is a folder, not an image file.")
    try:
        with Image.open(path) as img:
            n_frames = getattr(img, "n_frames", 1)
            if n_frames > 1:
                raise ValueError(
                    f"{where}: {path!r} holds {n_frames} frames (a multi-page "
                    "or animated image); only single images can be read."
                )
            img.load()
            return _pil_to_float(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(
            f"{where}: cannot read {path!r} as an image ({exc})."
        ) from exc


def _pil_to_float(img):
    """A PIL image as a float64 array in ``[0, 1]`` (``"F"`` kept as is)."""
    mode = img.mode
    if mode == "1":
        return np.asarray(img, dtype=bool).astype(np.float64)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit files; "I" (32-bit) is how some readers store them too.
        return np.asarray(img).astype(np.float64) / 65535.0
    if mode == "F":
        return np.asarray(img, dtype=np.float64)
    if mode in ("L", "LA", "La"):
        img = img.convert("L")
    elif mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        img = img.convert("RGB")
    elif mode != "RGB":
        img = img.convert("RGB")  # RGBA and friends: alpha dropped
    return np.asarray(img, dtype=np.float64) / 255.0


def load_images(paths, *, color="keep", dtype=np.float64):
    """Read image files as float arrays.

    Each file is read with Pillow and scaled to ``[0, 1]``: 8-bit images are
    divided by 255, 16-bit ones by 65535, and floating-point (``"F"``)
    images are kept as they are. An alpha channel is dropped.

    Parameters
    ----------
    paths : list of str or path-like
        Paths of the image files, in any format Pillow reads (PNG, JPEG,
        BMP, TIFF, ...).
    color : {"keep", "gray", "rgb"}, default="keep"
        ``"keep"``: a grayscale file gives a ``(height, width)`` array and a
        colour one ``(height, width, 3)``. ``"gray"``: colour images are
        converted to luminance, with the weights of
        :func:`skimage.color.rgb2gray`. ``"rgb"``: grayscale images are
        repeated on three channels.
    dtype : {np.float64, np.float32}, default=np.float64
        Data type of the arrays.

    Returns
    -------
    images : list of ndarray
        One array per path, in the order of ``paths``; their sizes may
        differ. Bring them to one size with :class:`ImageResizer`.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If a file cannot be read as a single image, or ``paths`` is empty.
    TypeError
        If ``paths`` is a single path or holds something else than paths.

    See Also
    --------
    ImageLoader : This function as a transformer, to start a pipeline.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skanomaly.features import load_images
    >>> folder = Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(folder / "a.png")
    >>> Image.fromarray(np.full((8, 6, 3), 255, dtype=np.uint8)).save(folder / "b.png")
    >>> images = load_images(sorted(folder.glob("*.png")))
    >>> [image.shape for image in images]
    [(20, 30), (8, 6, 3)]
    >>> float(images[1].max())
    1.0
    """
    if color not in _COLORS:
        raise ValueError(
            f"color must be one of {sorted(_COLORS)}, got {color!r}."
        )
    dtype = _check_dtype(dtype)
    images = []
    for i, path in enumerate(_check_paths(paths)):
        image = _read_image_file(path, where=f"X[{i}]")
        image = _convert_color(image, color, where=f"X[{i}] ({path!r})")
        images.append(image.astype(dtype, copy=False))
    return images


class ImageLoader(TransformerMixin, BaseEstimator):
    """Read image files into float arrays, the first step of a pipeline.

    ``transform`` takes a list of file paths and returns the list of
    images, read with :func:`load_images`: float arrays in ``[0, 1]``, of
    shape ``(height, width)`` for grayscale files and ``(height, width,
    3)`` for colour ones. Their sizes may differ; follow the loader with an
    :class:`ImageResizer` to get one array of a fixed size, so that
    ``make_pipeline(ImageLoader(), ImageResizer((64, 64)), ...)`` fits and
    scores lists of file paths.

    The loader is stateless: ``fit`` only checks the parameters and that
    ``X`` is a list of paths, and ``transform`` may be called without it.

    Parameters
    ----------
    color : {"keep", "gray", "rgb"}, default="keep"
        ``"keep"`` the files' own colour (grayscale or RGB), ``"gray"``
        convert to grayscale, ``"rgb"`` convert to RGB. See
        :func:`load_images`.
    dtype : {np.float64, np.float32}, default=np.float64
        Data type of the images.

    See Also
    --------
    load_images : The function this transformer applies.
    ImageResizer : Bring the images to one size.

    Notes
    -----
    The output is a list, not an array, because the images may differ in
    size; that is why scikit-learn's estimator checks, which feed numeric
    arrays, do not apply to this transformer. Reading files in ``transform``
    means that the paths, not the pixels, are what a pipeline passes
    around: a :class:`~sklearn.model_selection.GridSearchCV` over it reads
    the files again in every fit.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.pipeline import make_pipeline
    >>> from skanomaly.features import ImageLoader, ImageResizer
    >>> folder = Path(tempfile.mkdtemp())
    >>> rng = np.random.RandomState(0)
    >>> for i in range(10):  # images of varying sizes
    ...     pixels = rng.randint(0, 256, size=(20 + i, 30 - i), dtype=np.uint8)
    ...     Image.fromarray(pixels).save(folder / f"part{i}.png")
    >>> paths = sorted(folder.glob("*.png"))
    >>> pipe = make_pipeline(
    ...     ImageLoader(color="gray"),
    ...     ImageResizer((16, 16), flatten=True),
    ...     IsolationForest(random_state=0),
    ... )
    >>> pipe.fit(paths).score_samples(paths).shape
    (10,)
    """

    _parameter_constraints: dict = {
        "color": [StrOptions(_COLORS)],
        "dtype": "no_validation",  # checked in fit and transform
    }

    def __init__(self, color="keep", dtype=np.float64):
        self.color = color
        self.dtype = dtype

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and that ``X`` is a list of paths.

        The files are not read.

        Parameters
        ----------
        X : list of str or path-like
            Paths of image files.

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The transformer.
        """
        _check_dtype(self.dtype)
        _check_paths(X)
        return self

    def transform(self, X):
        """Read the image files.

        Parameters
        ----------
        X : list of str or path-like
            Paths of image files.

        Returns
        -------
        images : list of ndarray
            One float array per path, of shape ``(height, width)`` or
            ``(height, width, 3)``, in ``[0, 1]``.
        """
        self._validate_params()
        return load_images(X, color=self.color, dtype=self.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags


# ---------------------------------------------------------------- resizing


def _check_output_shape(output_shape):
    if isinstance(output_shape, Integral) and not isinstance(output_shape, bool):
        output_shape = (output_shape, output_shape)
    try:
        pair = tuple(output_shape)
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
            "output_shape must be (height, width) with positive integers, or "
            f"one positive integer for square images; got {output_shape!r}."
        )
    return int(pair[0]), int(pair[1])


def _is_image_list(X):
    """Whether ``X`` is a list of images (not an array or nested rows)."""
    if hasattr(X, "shape") or not isinstance(X, (list, tuple)) or not X:
        return False
    ndims = [np.ndim(item) for item in X]
    if all(ndim in (2, 3) for ndim in ndims):
        return True
    if any(ndim in (2, 3) for ndim in ndims):
        i = next(i for i, ndim in enumerate(ndims) if ndim not in (2, 3))
        raise ValueError(
            f"X is a list of images, but X[{i}] has {ndims[i]} dimensions: each "
            "image must be (height, width) or (height, width, channels)."
        )
    return False


class ImageResizer(TransformerMixin, BaseEstimator):
    """Bring images of any size and colour to one size, as floats.

    Each image is converted to the requested colour and resized with
    :func:`skimage.transform.resize`, so that images of varying sizes, read
    from files by :class:`ImageLoader` for instance, become one array that
    image transformers and detectors take. Pixel values are not rescaled:
    integer images become floats with the same values.

    The resizer is stateless: ``transform`` may be called without ``fit``,
    and images of any size may be given to either.

    Parameters
    ----------
    output_shape : tuple of int or int, default=(64, 64)
        ``(height, width)`` of the output images; an int is a square.
    color : {"keep", "gray", "rgb"}, default="keep"
        Colour of the output. ``"keep"``: the input's, which must then be
        the same for all images (all grayscale or all with ``C``
        channels). ``"gray"``: colour images become their luminance, with
        the weights of :func:`skimage.color.rgb2gray`. ``"rgb"``: grayscale
        images are repeated on three channels. For conversions, 2 channels
        are read as gray and alpha, 4 as RGBA, and alpha is dropped.
    order : int, default=1
        Order of the spline interpolation, 0 (nearest neighbour) to 5; 1 is
        bilinear. Use 0 for masks or label images.
    anti_aliasing : bool, default=True
        Smooth with a Gaussian filter before downsampling, to avoid
        aliasing (only where an image shrinks).
    flatten : bool, default=False
        Return each image as a row of ``height * width * channels`` values,
        for estimators that take 2-D input (scikit-learn's detectors, for
        instance). Input given as 2-D rows is always returned as rows.
    image_shape : tuple of int, default=None
        Shape ``(height, width)`` or ``(height, width, channels)`` of one
        input image when ``X`` is given as 2-D rows of flattened images (C
        order). When ``None``, rows are read as square grayscale images if
        their width is a perfect square, and refused otherwise.

    Attributes
    ----------
    n_features_out_ : int
        Number of values of one output image seen in :meth:`fit`,
        ``height * width * channels``: the row width when the output is
        flattened.

    n_features_in_ : int
        Row width of the input seen in :meth:`fit`. Defined only when ``X``
        was 2-D rows; then :meth:`transform` requires rows of that width.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`. Defined only when ``X``
        is a DataFrame of flattened images with string column names.

    See Also
    --------
    ImageLoader : Read image files, the step before this one.
    skimage.transform.resize : The function that resizes each image.

    Notes
    -----
    ``X`` may be:

    * a list of images, each ``(height, width)`` (grayscale) or ``(height,
      width, channels)``, of any sizes: what :class:`ImageLoader` returns;
    * an array ``(n_samples, height, width)`` of grayscale images or
      ``(n_samples, height, width, channels)``;
    * 2-D rows ``(n_samples, n_features)``, one flattened image a row (see
      ``image_shape``).

    The output is ``(n_samples, *output_shape)`` for grayscale images and
    ``(n_samples, *output_shape, channels)`` otherwise, or its flattened
    rows. It is float32 when every input image is float32, float64
    otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.features import ImageResizer
    >>> images = [np.zeros((30, 40)), np.ones((50, 20, 3))]
    >>> ImageResizer((16, 16), color="gray").fit_transform(images).shape
    (2, 16, 16)
    >>> ImageResizer((16, 16), color="rgb").fit_transform(images).shape
    (2, 16, 16, 3)
    >>> from sklearn.datasets import load_digits
    >>> rows = load_digits().data  # 8x8 images, one a row
    >>> ImageResizer((4, 4)).fit_transform(rows).shape
    (1797, 16)
    """

    _parameter_constraints: dict = {
        "output_shape": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "color": [StrOptions(_COLORS)],
        "order": [Interval(Integral, 0, 5, closed="both")],
        "anti_aliasing": ["boolean"],
        "flatten": ["boolean"],
        "image_shape": [None, "array-like"],
    }

    def __init__(
        self,
        output_shape=(64, 64),
        color="keep",
        order=1,
        anti_aliasing=True,
        flatten=False,
        image_shape=None,
    ):
        self.output_shape = output_shape
        self.color = color
        self.order = order
        self.anti_aliasing = anti_aliasing
        self.flatten = flatten
        self.image_shape = image_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and the images.

        Nothing is learnt; for 2-D rows, their width is recorded (and
        required by :meth:`transform`), as scikit-learn does.

        Parameters
        ----------
        X : list of arrays, array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images of any sizes, or flattened images one a row (see
            ``image_shape``).

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        output_shape = _check_output_shape(self.output_shape)
        images, _, _ = self._validate_images(X, reset=True)
        n_channels = self._output_channels(images)
        self.n_features_out_ = output_shape[0] * output_shape[1] * n_channels
        return self

    def transform(self, X):
        """Convert and resize the images.

        Parameters
        ----------
        X : list of arrays, array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images of any sizes, or flattened images one a row.

        Returns
        -------
        X_resized : ndarray of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or \
                (n_samples, height * width * channels)
            The images at ``output_shape``; rows when ``flatten=True`` or
            when ``X`` was given as rows.
        """
        self._validate_params()
        output_shape = _check_output_shape(self.output_shape)
        images, is_rows, dtype = self._validate_images(X, reset=False)
        self._output_channels(images)  # same colour for all, or raise
        resized = [
            self._resize_one(image, output_shape, i) for i, image in enumerate(images)
        ]
        out = np.stack(resized).astype(dtype, copy=False)
        if is_rows or self.flatten:
            out = out.reshape(out.shape[0], -1)
        return out

    def get_feature_names_out(self, input_features=None):
        """Get output feature names, for flattened output.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the fitted input when it was 2-D rows.
            The output values are named ``pixel0``, ``pixel1``, and so on.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``["pixel0", ..., "pixel<n_features_out_ - 1>"]``.
        """
        check_is_fitted(self, "n_features_out_")
        if input_features is not None and hasattr(self, "n_features_in_"):
            input_features = np.asarray(input_features, dtype=object)
            names_in = getattr(self, "feature_names_in_", None)
            if names_in is not None and not np.array_equal(names_in, input_features):
                raise ValueError("input_features is not equal to feature_names_in_")
            if len(input_features) != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to number of "
                    f"features ({self.n_features_in_}), got "
                    f"{len(input_features)}"
                )
        return np.asarray(
            [f"pixel{i}" for i in range(self.n_features_out_)], dtype=object
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -------------------------------------------------------------- helpers

    def _validate_images(self, X, reset):
        """Return ``(images, is_rows, dtype)``: a list or array of images."""
        name = type(self).__name__
        if _is_image_list(X):
            images = []
            for i, image in enumerate(X):
                image = check_array(
                    image,
                    ensure_2d=False,
                    allow_nd=True,
                    dtype=[np.float64, np.float32],
                    input_name=f"X[{i}]",
                    estimator=self,
                    ensure_min_samples=1,
                    ensure_min_features=1,
                )
                images.append(image)
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            if reset and hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            dtypes = {image.dtype for image in images}
            dtype = np.float32 if dtypes == {np.dtype(np.float32)} else np.float64
            return images, False, dtype

        if not hasattr(X, "ndim") and not hasattr(X, "shape"):
            X = np.asarray(X)
        ndim = len(X.shape)
        if ndim == 2:
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            image_shape = check_image_shape(self.image_shape)
            if image_shape is None:
                image_shape = infer_image_shape(X.shape[1])
            return rows_to_images(X, image_shape), True, X.dtype.type
        if ndim not in (3, 4):
            hint = (
                " For a single image, pass [image] or image[np.newaxis]."
                if ndim == 1
                else ""
            )
            raise ValueError(
                f"{name} expects a list of images, images of shape (n_samples, "
                "height, width) or (n_samples, height, width, channels), or "
                "one flattened image a row (n_samples, n_features); got a "
                f"{ndim}-D array of shape {X.shape}.{hint}"
            )
        images = check_array(
            X,
            allow_nd=True,
            dtype=[np.float64, np.float32],
            input_name="X",
            estimator=self,
        )
        if 0 in images.shape[1:]:
            raise ValueError(f"{name} got empty images: X has shape {images.shape}.")
        if reset and hasattr(self, "n_features_in_"):
            del self.n_features_in_
        if reset and hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return _canonical_images(images), False, images.dtype.type

    def _channels_after_color(self, image, i):
        if image.ndim == 3 and image.shape[2] == 1:
            n_channels = 1
        else:
            n_channels = 1 if image.ndim == 2 else image.shape[2]
        if self.color == "keep":
            return n_channels
        if n_channels not in (1, 2, 3, 4):
            raise ValueError(
                f"X[{i}] has {n_channels} channels, which cannot be converted "
                f"to color={self.color!r}: only images with 1 (gray), 2 (gray "
                "and alpha), 3 (RGB) or 4 (RGBA) channels can. Use "
                "color='keep' to keep the channels as they are."
            )
        return 1 if self.color == "gray" else 3

    def _output_channels(self, images):
        """Number of output channels; all images must agree with 'keep'."""
        if isinstance(images, np.ndarray):
            return self._channels_after_color(images[0], 0)
        channels = [
            self._channels_after_color(image, i) for i, image in enumerate(images)
        ]
        if len(set(channels)) > 1:
            first = channels[0]
            other = next(i for i, c in enumerate(channels) if c != first)
            raise ValueError(
                f"X mixes images with {first} and {channels[other]} channels "
                f"(X[0] and X[{other}]); with color='keep' all images must have "
                "the same number. Pass color='gray' or color='rgb' to convert "
                "them."
            )
        return channels[0]

    def _resize_one(self, image, output_shape, i):
        image = _convert_color(image, self.color, where=f"X[{i}]")
        if image.shape[:2] == output_shape:
            return image
        return resize(
            image,
            output_shape + image.shape[2:],
            order=self.order,
            mode="reflect",
            anti_aliasing=self.anti_aliasing,
            preserve_range=True,
        )
