"""Anomaly maps over their images, and the most anomalous images."""

import math
from numbers import Integral, Real

import numpy as np

from ._base import import_pyplot

__all__ = ["plot_anomaly_map", "plot_top_anomalies"]


def _check_image(image, name="image"):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(
            f"{name} must be a grayscale image (height, width) or a colour one "
            f"(height, width, 3 or 4); got an array of shape {image.shape}."
        )
    if image.dtype == bool or image.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, got dtype {image.dtype}.")
    if image.size == 0:
        raise ValueError(f"{name} is empty: shape {image.shape}.")
    return image


def _check_map(values, shape, name):
    values = np.asarray(values)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.shape != shape:
        raise ValueError(
            f"{name} has shape {values.shape}, but its image is {shape}: they "
            "must have the same height and width (resize the map to the image "
            "with e.g. skimage.transform.resize)."
        )
    return values


def _check_mask(mask, shape, name="mask"):
    mask = _check_map(mask, shape, name)
    if mask.dtype != bool:
        if mask.dtype.kind not in "iuf" or not np.isin(np.unique(mask), (0, 1)).all():
            raise ValueError(
                f"{name} must be boolean or hold 0 and 1 (True/1 for a "
                "defective pixel)."
            )
        mask = mask.astype(bool)
    return mask


def _show_image(ax, image):
    if image.ndim == 2:
        return ax.imshow(image, cmap="gray", interpolation="nearest")
    if image.dtype.kind == "f":
        image = np.clip(image, 0, 1)  # matplotlib's range for float colour
    return ax.imshow(image, interpolation="nearest")


def _draw_outline(ax, mask, color, linewidth=1.5):
    """Contour of the defective pixels; nothing for an empty mask."""
    if mask.any():
        ax.contour(
            mask.astype(float), levels=[0.5], colors=[color], linewidths=linewidth
        )


def plot_anomaly_map(
    image,
    anomaly_map,
    mask=None,
    *,
    ax=None,
    alpha=0.5,
    cmap="jet",
    vmin=None,
    vmax=None,
    mask_color="white",
    colorbar=True,
    title=None,
):
    """Show an anomaly map over its image, with the ground-truth outline.

    The image is drawn (grayscale or colour), the anomaly map is laid over
    it, half transparent by default, and the outline of the defective
    pixels of ``mask`` is drawn where a mask is given.

    Parameters
    ----------
    image : array-like of shape (height, width) or (height, width, channels)
        The image: grayscale, or colour with 3 (RGB) or 4 (RGBA) channels.
    anomaly_map : array-like of shape (height, width)
        Per-pixel scores at the image's resolution, higher meaning more
        anomalous (an image detector's ``anomaly_map`` for one image).
    mask : array-like of shape (height, width), default=None
        Ground truth, ``True`` or ``1`` for a defective pixel; its outline
        is drawn. Nothing is drawn for an empty mask.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when ``None``.
    alpha : float, default=0.5
        Opacity of the map over the image, from 0 (invisible) to 1.
    cmap : str or Colormap, default="jet"
        Colour map of the anomaly scores.
    vmin, vmax : float, default=None
        Scores at the two ends of the colour map; by default the map's own
        minimum and maximum. Fix them to compare maps of several images.
    mask_color : color, default="white"
        Colour of the mask's outline.
    colorbar : bool, default=True
        Add a colour bar of the scores.
    title : str, default=None
        Title of the axes.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on: ``ax.images`` holds the image and the map, and
        ``ax.collections`` the outline.

    Raises
    ------
    ValueError
        If the map or the mask does not have the image's height and width,
        if the mask is not binary, or if the map holds NaN or infinity.
    ImportError
        If matplotlib is not installed.

    See Also
    --------
    plot_top_anomalies : A grid of the most anomalous images.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skanomaly.datasets import make_defect_textures
    >>> from skanomaly.plotting import plot_anomaly_map
    >>> data = make_defect_textures(n_normal=0, n_defective=1, random_state=0)
    >>> image, mask = data.images[0], data.masks[0]
    >>> anomaly_map = abs(image - image.mean())  # a stand-in for a detector's map
    >>> ax = plot_anomaly_map(image, anomaly_map, mask)
    >>> len(ax.images), len(ax.collections)  # image and map; the outline
    (2, 1)
    """
    plt = import_pyplot()
    image = _check_image(image)
    anomaly_map = _check_map(anomaly_map, image.shape[:2], "anomaly_map")
    if anomaly_map.dtype == bool or anomaly_map.dtype.kind not in "iuf":
        raise TypeError(
            f"anomaly_map must hold numbers, got dtype {anomaly_map.dtype}."
        )
    if not np.isfinite(anomaly_map).all():
        raise ValueError("anomaly_map contains NaN or infinity.")
    if not isinstance(alpha, Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number from 0 to 1, got {alpha!r}.")
    if mask is not None:
        mask = _check_mask(mask, image.shape[:2])

    if ax is None:
        _, ax = plt.subplots()
    _show_image(ax, image)
    overlay = ax.imshow(
        anomaly_map, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax,
        interpolation="nearest",
    )
    if mask is not None:
        _draw_outline(ax, mask, mask_color)
    if colorbar:
        ax.figure.colorbar(overlay, ax=ax, label="anomaly score")
    if title is not None:
        ax.set_title(title)
    ax.set_axis_off()
    return ax


def plot_top_anomalies(
    images,
    scores,
    *,
    n=10,
    score_convention="normality",
    y_true=None,
    anomaly_maps=None,
    masks=None,
    n_cols=5,
    figsize=None,
):
    """Show the ``n`` most anomalous images in a grid, the most anomalous first.

    Each panel is titled with its rank and score and, when ``y_true`` is
    given, whether the image is really an anomaly (in red) or normal. The
    images' anomaly maps and the outlines of their defects can be laid
    over them.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width[, channels]) or \
            list of arrays
        The images, grayscale or colour; a list may hold images of varying
        sizes.
    scores : array-like of shape (n_images,)
        One score an image, finite.
    n : int, default=10
        How many images to show; all of them if there are fewer.
    score_convention : {"normality", "anomaly"}, default="normality"
        Which way ``scores`` point. ``"normality"``: higher is more normal,
        like ``score_samples`` and ``decision_function`` of skanomaly's and
        scikit-learn's detectors, so the lowest scores are shown.
        ``"anomaly"``: higher is more anomalous, so the highest are shown.
    y_true : array-like of shape (n_images,), default=None
        Ground truth, ``1`` for an anomaly and ``0`` for a normal image,
        shown in the titles.
    anomaly_maps : array-like or list of arrays, default=None
        One map an image (higher more anomalous), laid over it half
        transparent, on one colour scale for all the panels.
    masks : array-like or list of arrays, default=None
        One mask an image, whose outlines are drawn.
    n_cols : int, default=5
        Number of panels a row.
    figsize : tuple of float, default=None
        Size of the figure in inches; by default 2.4 inches a panel.

    Returns
    -------
    fig : matplotlib Figure
        The figure; ``fig.axes`` holds one axes an image shown, in rank
        order.

    Raises
    ------
    ValueError
        If the numbers of images, scores, labels, maps or masks differ, if
        the scores are not finite, or ``n`` is not a positive integer.
    ImportError
        If matplotlib is not installed.

    See Also
    --------
    plot_anomaly_map : One image with its map, in detail.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skanomaly.datasets import make_defect_textures
    >>> from skanomaly.plotting import plot_top_anomalies
    >>> data = make_defect_textures(n_normal=20, n_defective=4, random_state=0)
    >>> scores = -np.abs(data.images - 0.5).max(axis=(1, 2))  # normality scores
    >>> fig = plot_top_anomalies(data.images, scores, n=6, y_true=data.y,
    ...                          masks=data.masks)
    >>> len(fig.axes), [len(ax.images) for ax in fig.axes]
    (6, [1, 1, 1, 1, 1, 1])
    """
    plt = import_pyplot()
    if score_convention not in ("normality", "anomaly"):
        raise ValueError(
            "score_convention must be 'normality' or 'anomaly', got "
            f"{score_convention!r}."
        )
    for value, name in ((n, "n"), (n_cols, "n_cols")):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if not isinstance(images, (list, tuple)):
        images = np.asarray(images)
    images = list(images)
    if not images:
        raise ValueError("images is empty.")
    scores = np.asarray(scores)
    if scores.ndim != 1 or scores.dtype == bool or scores.dtype.kind not in "iuf":
        raise ValueError(
            f"scores must be a 1-D array of numbers, got shape {scores.shape} "
            f"and dtype {scores.dtype}."
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity.")
    extras = {
        "scores": scores,
        "y_true": y_true,
        "anomaly_maps": anomaly_maps,
        "masks": masks,
    }
    for name, values in extras.items():
        if values is not None and len(values) != len(images):
            raise ValueError(
                f"{name} has {len(values)} entries, but there are "
                f"{len(images)} images."
            )
    if y_true is not None:
        y_true = np.asarray(y_true)
        if not np.isin(y_true, (0, 1)).all():
            raise ValueError(
                "y_true must hold 1 for an anomaly and 0 for a normal image."
            )

    anomaly = -scores if score_convention == "normality" else scores
    order = np.argsort(-anomaly, kind="stable")[:n]
    n_shown = len(order)
    n_cols = min(n_cols, n_shown)
    n_rows = math.ceil(n_shown / n_cols)
    if figsize is None:
        figsize = (2.4 * n_cols, 2.6 * n_rows)
    shown = [_check_image(images[i], f"images[{i}]") for i in order]
    if anomaly_maps is not None:
        maps = [
            _check_map(anomaly_maps[i], image.shape[:2], f"anomaly_maps[{i}]")
            for i, image in zip(order, shown)
        ]
        if not all(np.isfinite(m).all() for m in maps):
            raise ValueError("anomaly_maps contain NaN or infinity.")
        # one colour scale for all panels, so that they can be compared
        vmin = min(float(m.min()) for m in maps)
        vmax = max(float(m.max()) for m in maps)

    fig, axes = plt.subplots(n_rows, n_cols, figsize=figsize, squeeze=False)
    for rank, (ax, index, image) in enumerate(zip(axes.ravel(), order, shown), start=1):
        _show_image(ax, image)
        if anomaly_maps is not None:
            ax.imshow(
                maps[rank - 1], cmap="jet", alpha=0.45, vmin=vmin, vmax=vmax,
                interpolation="nearest",
            )
        if masks is not None:
            mask = _check_mask(masks[index], image.shape[:2], f"masks[{index}]")
            _draw_outline(ax, mask, "red" if anomaly_maps is None else "white", 1.0)
        title = f"#{rank}  score {scores[index]:.3g}"
        color = "black"
        if y_true is not None:
            is_anomaly = y_true[index] == 1
            title += "\nanomaly" if is_anomaly else "\nnormal"
            color = "tab:red" if is_anomaly else "black"
        ax.set_title(title, fontsize=9, color=color)
        ax.set_axis_off()
    for ax in axes.ravel()[n_shown:]:
        ax.remove()
    fig.tight_layout()
    return fig
