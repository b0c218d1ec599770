"""The Magnetic Tile Defects data set: real photos with pixel masks."""

from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..features._resize import ImageResizer, _convert_color, _read_image_file

__all__ = ["load_magnetic_tile"]

#: The class of defect-free tiles; every other class is a kind of defect.
NORMAL_CLASS = "Free"
_PREFIX = "MT_"
_IMAGE_SUFFIXES = (".jpg", ".jpeg")


def _class_folders(root):
    folders = sorted(
        p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)
    )
    if not folders:
        raise ValueError(
            f"{root} holds no MT_<class> folders. The Magnetic Tile Defects "
            "data set is laid out as MT_<class>/Imgs/<name>.jpg with a "
            "same-name .png mask (MT_Free, MT_Blowhole, MT_Break, MT_Crack, "
            "MT_Fray, MT_Uneven); pass the folder that holds them."
        )
    return {p.name[len(_PREFIX) :]: p for p in folders}


def _select_classes(available, classes):
    if classes is None:
        return sorted(available)
    if isinstance(classes, str):
        classes = [classes]
    selected = []
    for name in classes:
        short = name[len(_PREFIX) :] if name.startswith(_PREFIX) else name
        if short not in available:
            raise ValueError(
                f"No class {name!r} in the data; the classes found are "
                f"{sorted(available)}."
            )
        if short not in selected:
            selected.append(short)
    if not selected:
        raise ValueError("classes is empty; pass None to load every class.")
    return sorted(selected)


def _read_mask(path, image_shape, where):
    from PIL import Image

    try:
        with Image.open(path) as img:
            mask = np.asarray(img.convert("L")) > 127
    except OSError as exc:
        raise ValueError(f"{where}: cannot read the mask {path} ({exc}).") from exc
    if mask.shape != image_shape:
        raise ValueError(
            f"{where}: the mask {path} is {mask.shape[0]}x{mask.shape[1]}, but "
            f"its image is {image_shape[0]}x{image_shape[1]}."
        )
    return mask


def _check_image_size(image_size):
    if image_size is None:
        return None
    if isinstance(image_size, Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    try:
        size = tuple(image_size)
    except TypeError:
        size = ()
    if len(size) != 2 or not all(
        isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in size
    ):
        raise ValueError(
            "image_size must be None (keep each image's size), a positive int "
            f"or (height, width); got {image_size!r}."
        )
    return int(size[0]), int(size[1])


def load_magnetic_tile(path, *, classes=None, image_size=None, return_X_y=False):
    """Load the Magnetic Tile Defects data set, with its pixel masks.

    Real grayscale photos of magnetic tiles (Huang et al., "Surface defect
    saliency of magnetic tile", The Visual Computer, 2020): 952 defect-free
    tiles and 392 defective ones of five kinds (blowholes, breaks, cracks,
    frays and uneven surfaces), each with a mask of its defective pixels.
    The images vary in size, from about 100 to 600 pixels a side.

    The loader reads a copy of the data set's folder (from
    https://github.com/abin24/Magnetic-tile-defect-datasets.), laid out as
    ``MT_<class>/Imgs/<name>.jpg`` with a same-name ``.png`` mask. It does
    not download anything.

    Parameters
    ----------
    path : str or path-like
        The folder holding the ``MT_<class>`` folders.
    classes : list of str, default=None
        The classes to load, such as ``["Free", "Crack"]`` (``"MT_Crack"``
        works too); ``None`` loads all.
    image_size : int or tuple of int, default=None
        ``None`` keeps each image at its own size and returns lists. A size
        ``(height, width)`` (an int for a square) resizes every image,
        with anti-aliasing, and every mask, by nearest neighbour, and
        returns arrays.
    return_X_y : bool, default=False
        Return ``(images, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the fields:

        images : list of ndarray of shape (height, width), or ndarray of \
                shape (n_images, height, width)
            Grayscale images, float32 in ``[0, 1]``; an array when
            ``image_size`` is given.
        masks : list of ndarray, or ndarray of shape (n_images, height, width)
            Boolean masks of the defective pixels (mask pixels above 127),
            of the size of their image. Defect-free images, and a few
            defective ones, have empty masks.
        y : ndarray of shape (n_images,), dtype int
            ``1`` for a defective tile, ``0`` for a defect-free one
            (``MT_Free``).
        classes : ndarray of shape (n_images,), dtype object
            The class of each image: ``"Free"``, ``"Blowhole"``, ...
        class_names : list of str
            The classes loaded, sorted.
        paths : list of str
            The image files, in the order of ``images``.
        DESCR : str
            A short description.

    (images, y) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` holds no ``MT_<class>`` folder or no image, if a class
        is unknown, or if a defective image has no mask or a mask of another
        size than its image.

    Notes
    -----
    Images come class by class in the sorted order of the class names
    (Blowhole, Break, Crack, Fray, Free, Uneven), each class sorted by file
    name. A defect-free image without a mask file gets an empty mask.

    Examples
    --------
    >>> from skanomaly.datasets import load_magnetic_tile
    >>> data = load_magnetic_tile("../shared/data/magnetic_tile")  # doctest: +SKIP
    >>> len(data.images), int(data.y.sum())  # doctest: +SKIP
    (1344, 392)
    >>> data.images[0].shape == data.masks[0].shape  # doctest: +SKIP
    True
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"No such folder: {root}.")
    if not root.is_dir():
        raise ValueError(f"{root} is a file; pass the folder of the data set.")
    size = _check_image_size(image_size)
    folders = _class_folders(root)
    selected = _select_classes(folders, classes)

    images, masks, labels, names, paths = [], [], [], [], []
    for name in selected:
        folder = folders[name] / "Imgs"
        if not folder.is_dir():
            folder = folders[name]
        files = sorted(
            p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES
        )
        for file in files:
            where = f"{_PREFIX}{name}/{file.name}"
            image = _read_image_file(file, where=where)
            image = _convert_color(image, "gray", where=where)
            mask_file = file.with_suffix(".png")
            if mask_file.is_file():
                mask = _read_mask(mask_file, image.shape, where)
            elif name == NORMAL_CLASS:
                mask = np.zeros(image.shape, dtype=bool)
            else:
                raise ValueError(
                    f"{where}: a defective image without its mask {mask_file.name}."
                )
            images.append(image.astype(np.float32))
            masks.append(mask)
            labels.append(int(name != NORMAL_CLASS))
            names.append(name)
            paths.append(str(file))
    if not images:
        raise ValueError(
            f"No .jpg image in the MT_<class>/Imgs folders of {root} "
            f"(classes {selected})."
        )

    if size is not None:
        images = ImageResizer(size).fit_transform(images)
        masks = (
            ImageResizer(size, order=0, anti_aliasing=False).fit_transform(
                [m.astype(np.float32) for m in masks]
            )
            > 0.5
        )
    y = np.asarray(labels, dtype=int)
    if return_X_y:
        return images, y
    return Bunch(
        images=images,
        masks=masks,
        y=y,
        classes=np.asarray(names, dtype=object),
        class_names=list(selected),
        paths=paths,
        DESCR=(
            f"Magnetic Tile Defects from {root}: {len(y)} images, "
            f"{int(y.sum())} defective ({', '.join(selected)})."
        ),
    )
