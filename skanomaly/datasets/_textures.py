"""Textures with planted defects and their masks, for demos and tests."""

from functools import lru_cache
from numbers import Integral

import numpy as np
from scipy import ndimage
from skimage import data as skimage_data
from skimage import draw
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_defect_textures"]

# Grayscale textures that ship inside scikit-image (no download), 512x512.
TEXTURES = ("brick", "grass", "gravel")
DEFECTS = ("scratch", "blob", "stain")


@lru_cache(maxsize=None)
def _texture(name):
    image = getattr(skimage_data, name)()
    image = image.astype(np.float32) / np.float32(255)
    image.setflags(write=False)
    return image


def _contrast_value(image, rng):
    """A value that stands out: bright on a dark image, dark on a bright one."""
    if image.mean() < 0.5:
        return rng.uniform(0.85, 1.0)
    return rng.uniform(0.0, 0.15)


def _scratch(image, rng):
    """A thin straight line, one or two pixels wide, across part of the image."""
    height, width = image.shape
    side = min(height, width)
    length = rng.uniform(0.3, 0.7) * side
    angle = rng.uniform(0, np.pi)
    r0 = rng.uniform(0.2, 0.8) * height
    c0 = rng.uniform(0.2, 0.8) * width
    r1 = np.clip(r0 + length * np.sin(angle), 0, height - 1)
    c1 = np.clip(c0 + length * np.cos(angle), 0, width - 1)
    rr, cc = draw.line(int(r0), int(c0), int(round(r1)), int(round(c1)))
    mask = np.zeros(image.shape, dtype=bool)
    mask[rr, cc] = True
    if rng.uniform() < 0.5 and side >= 32:
        mask = ndimage.binary_dilation(mask)
    value = _contrast_value(image, rng)
    image[mask] = value + rng.normal(0, 0.02, size=int(mask.sum()))
    return mask


def _blob(image, rng):
    """A small solid ellipse of a contrasting shade, like a hole or a chip."""
    height, width = image.shape
    side = min(height, width)
    radii = rng.uniform(0.05, 0.13, size=2) * side + 1.5
    centre = rng.uniform(0.2, 0.8, size=2) * (height, width)
    rr, cc = draw.ellipse(
        centre[0], centre[1], radii[0], radii[1], shape=image.shape,
        rotation=rng.uniform(-np.pi, np.pi),
    )
    mask = np.zeros(image.shape, dtype=bool)
    mask[rr, cc] = True
    value = _contrast_value(image, rng)
    image[mask] = value + rng.normal(0, 0.03, size=int(mask.sum()))
    return mask


def _stain(image, rng):
    """A larger, soft-edged patch where the texture is shifted in brightness.

    The mask is where the shift is at least half its peak.
    """
    height, width = image.shape
    side = min(height, width)
    radii = rng.uniform(0.1, 0.2, size=2) * side + 2
    centre = rng.uniform(0.25, 0.75, size=2) * (height, width)
    rr, cc = draw.ellipse(
        centre[0], centre[1], radii[0], radii[1], shape=image.shape,
        rotation=rng.uniform(-np.pi, np.pi),
    )
    core = np.zeros(image.shape, dtype=np.float32)
    core[rr, cc] = 1.0
    alpha = ndimage.gaussian_filter(core, sigma=max(1.0, radii.min() / 3))
    alpha /= alpha.max()
    shift = 0.45 if image.mean() < 0.5 else -0.45
    image += np.float32(shift) * alpha
    return alpha >= 0.5


_PLANTERS = {"scratch": _scratch, "blob": _blob, "stain": _stain}


def _check_count(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    return int(value)


def make_defect_textures(
    n_normal=100,
    n_defective=20,
    *,
    image_size=(64, 64),
    texture="brick",
    defects=DEFECTS,
    random_state=None,
    return_X_y=False,
):
    """Make texture images, some with planted defects, and their masks.

    Every image is a random crop of a texture photo that ships with
    scikit-image (nothing is downloaded). A defective image gets one
    defect, drawn among ``defects``:

    * ``"scratch"``: a thin straight line, 1 or 2 pixels wide;
    * ``"blob"``: a small solid ellipse, like a hole or a chip;
    * ``"stain"``: a larger soft-edged patch of shifted brightness.

    Defects are bright on dark textures and dark on bright ones. The mask
    marks the pixels each defect changed (for a stain, where the shift is
    at least half its peak). A small, quick, reproducible stand-in for an
    industrial inspection data set, for examples and tests.

    Parameters
    ----------
    n_normal : int, default=100
        Number of defect-free images.
    n_defective : int, default=20
        Number of images with a defect.
    image_size : int or tuple of int, default=(64, 64)
        ``(height, width)`` of the images, each from 16 to 512 (the size of
        the texture photos); an int is a square.
    texture : {"brick", "grass", "gravel"}, default="brick"
        The texture: :func:`skimage.data.brick`, :func:`skimage.data.grass`
        or :func:`skimage.data.gravel`.
    defects : sequence of str, default=("scratch", "blob", "stain")
        The kinds of defect to draw from, uniformly.
    random_state : int, RandomState instance or None, default=None
        Draws the crops and the defects. Pass an int for the same images at
        every call; two calls with different seeds give a training and a
        test set.
    return_X_y : bool, default=False
        Return ``(images, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the fields:

        images : ndarray of shape (n_normal + n_defective, height, width)
            Grayscale images, float32 in ``[0, 1]``: the normal images
            first, then the defective ones.
        masks : ndarray of shape (n_normal + n_defective, height, width)
            Boolean masks of the defective pixels; empty for normal images.
        y : ndarray of shape (n_normal + n_defective,), dtype int
            ``1`` for an image with a defect, ``0`` otherwise.
        defect_type : ndarray of shape (n_normal + n_defective,), dtype object
            ``"none"`` for a normal image, else the kind of its defect.
        DESCR : str
            A short description.

    (images, y) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    ValueError
        For a negative or zero total count, an image size out of range, or
        an unknown texture or defect.

    Examples
    --------
    >>> from skanomaly.datasets import make_defect_textures
    >>> train = make_defect_textures(n_normal=50, n_defective=0, random_state=0)
    >>> test = make_defect_textures(n_normal=10, n_defective=10, random_state=1)
    >>> test.images.shape, test.masks.shape
    ((20, 64, 64), (20, 64, 64))
    >>> test.y[8:12]
    array([0, 0, 1, 1])
    >>> bool(test.masks[test.y == 1].any(axis=(1, 2)).all())  # every defect has a mask
    True
    """
    n_normal = _check_count(n_normal, "n_normal")
    n_defective = _check_count(n_defective, "n_defective")
    if n_normal + n_defective == 0:
        raise ValueError("n_normal + n_defective must be at least 1.")
    if isinstance(image_size, Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    try:
        size = tuple(image_size)
    except TypeError:
        size = ()
    if len(size) != 2 or not all(
        isinstance(v, Integral) and not isinstance(v, bool) and 16 <= v <= 512
        for v in size
    ):
        raise ValueError(
            "image_size must be (height, width), or an int for a square, with "
            f"sides from 16 to 512; got {image_size!r}."
        )
    height, width = int(size[0]), int(size[1])
    if texture not in TEXTURES:
        raise ValueError(f"texture must be one of {list(TEXTURES)}, got {texture!r}.")
    if isinstance(defects, str):
        defects = (defects,)
    defects = tuple(defects)
    unknown = [d for d in defects if d not in _PLANTERS]
    if unknown or not defects:
        raise ValueError(
            f"defects must be a non-empty selection of {list(DEFECTS)}; got "
            f"{defects!r}."
        )

    rng = check_random_state(random_state)
    source = _texture(texture)
    n = n_normal + n_defective
    images = np.empty((n, height, width), dtype=np.float32)
    masks = np.zeros((n, height, width), dtype=bool)
    kinds = np.full(n, "none", dtype=object)
    for i in range(n):
        top = rng.randint(0, source.shape[0] - height + 1)
        left = rng.randint(0, source.shape[1] - width + 1)
        images[i] = source[top : top + height, left : left + width]
        if i >= n_normal:
            kinds[i] = defects[rng.randint(len(defects))]
            masks[i] = _PLANTERS[kinds[i]](images[i], rng)
    np.clip(images, 0.0, 1.0, out=images)
    y = (np.arange(n) >= n_normal).astype(int)
    if return_X_y:
        return images, y
    return Bunch(
        images=images,
        masks=masks,
        y=y,
        defect_type=kinds,
        DESCR=(
            f"{n} crops of {height}x{width} pixels of skimage.data.{texture}(); "
            f"the last {n_defective} with a planted defect ({', '.join(defects)})."
        ),
    )
