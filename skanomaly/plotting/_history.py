"""The training history of a deep detector: every logged loss per epoch."""

from collections.abc import Mapping

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._base import import_pyplot
from ._common import _final_step

class TrainingHistoryDisplay:
    """Every series of a deep detector's ``history_``, against the epoch.

    A detector trained by gradient descent logs its losses, each averaged
    over an epoch, in ``history_``: ``"loss"``, ``"val_loss"`` on the
    held-out part when early stopping holds one out, and one loss a
    network for detectors that train several. Each series is one line; a
    validation series (``"val_<name>"``) takes the colour of its training
    series ``"<name>"`` and is dashed. A series' ``i``-th value is drawn at
    epoch ``i`` (from 1), warm starts included.

    Build it with :meth:`from_estimator`, or from a history directly; all
    parameters are stored as attributes.

    Parameters
    ----------
    history : dict of str to list of float
        Values by name, one a epoch.
    name : str, default=None
        Title of the axes (``from_estimator`` uses the detector's name);
        none when ``None``.

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
        The line of each series drawn.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of the axes.

    See Also
    --------
    ScoreHistogramDisplay : The scores the trained detector gives.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skanomaly.plotting import TrainingHistoryDisplay
    >>> history = {"loss": [1.0, 0.6, 0.5], "val_loss": [1.1, 0.7, 0.65]}
    >>> display = TrainingHistoryDisplay(history=history).plot(log_scale=True)
    >>> list(display.lines_), display.ax_.get_yscale()
    (['loss', 'val_loss'], 'log')
    >>> display.lines_["val_loss"].get_linestyle()
    '--'

    From a fitted deep detector:

    >>> import numpy as np
    >>> from skanomaly import AutoEncoder
    >>> X = np.random.RandomState(0).normal(size=(200, 5))
    >>> detector = AutoEncoder(epochs=3, random_state=0).fit(X)
    >>> display = TrainingHistoryDisplay.from_estimator(detector)
    >>> sorted(display.lines_), len(display.lines_["loss"].get_xdata())
    (['loss', 'val_loss'], 3)
    """

    def __init__(self, *, history, name=None):
        self.history = history
        self.name = name

    def _validated(self, keys):
        history = self.history
        if not isinstance(history, Mapping):
            raise TypeError(
                "history must be a dict of lists of values, one a epoch (a "
                f"deep detector's history_), got {type(history).__name__}."
            )
        if not history:
            raise ValueError(
                "history is empty: the detector logged nothing (was it fitted "
                "for zero epochs?)."
            )
        if keys is None:
            keys = list(history)
        else:
            if isinstance(keys, str):
                keys = [keys]
            keys = list(keys)
            unknown = [key for key in keys if key not in history]
            if unknown:
                raise ValueError(
                    f"keys {unknown} are not in the history, which holds "
                    f"{sorted(history)}."
                )
            if not keys:
                raise ValueError("keys is empty: name at least one series.")
        series = {}
        for key in keys:
            values = np.asarray(history[key])
            if values.dtype == bool or values.dtype.kind not in "iuf":
                raise TypeError(
                    f"history[{key!r}] must hold numbers, one a epoch; got "
                    f"dtype {values.dtype}."
                )
            if values.ndim != 1 or values.shape[0] == 0:
                raise ValueError(
                    f"history[{key!r}] must be a non-empty list of values, one "
                    f"a epoch; got shape {values.shape}."
                )
            series[key] = values.astype(np.float64)
        return series

    def plot(self, ax=None, *, keys=None, log_scale=False, line_kwargs=None):
        """Draw the series.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.
        keys : list of str, default=None
            Names of the series to draw, in this order; all of them when
            ``None``.
        log_scale : bool, default=False
            Logarithmic loss axis, which shows the late epochs' small
            changes; every value drawn must then be positive.
        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot` for every
            line, overriding the defaults (colour, line style, label).

        Returns
        -------
        display : TrainingHistoryDisplay
            This display, with ``ax_``, ``figure_`` and ``lines_``.

        Raises
        ------
        ValueError
            If the history is empty, ``keys`` names a series it lacks, or
            ``log_scale`` is set and a series holds a value that is not
            positive.
        TypeError
            If the history is not a dict of lists of numbers.
        """
        plt = import_pyplot()
        from matplotlib.ticker import MaxNLocator

        series = self._validated(keys)
        if log_scale:
            for key, values in series.items():
                finite = values[np.isfinite(values)]
                if np.any(finite <= 0):
                    raise ValueError(
                        f"log_scale needs positive values, but history[{key!r}] "
                        f"reaches {finite.min():.4g}; draw it with "
                        "log_scale=False or leave it out with keys."
                    )
        if ax is None:
            _, ax = plt.subplots()

        def training_name(key):
            # "val_loss" pairs with "loss" when both are drawn
            base = key[len("val_"):]
            return base if key.startswith("val_") and base in series else key

        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        bases = list(dict.fromkeys(training_name(key) for key in series))
        self.lines_ = {}
        for key, values in series.items():
            base = training_name(key)
            kwargs = {
                "color": colours[bases.index(base) % len(colours)],
                "linestyle": "--" if base != key else "-",
                "marker": "o" if values.shape[0] == 1 else None,
                "label": key,
                **(line_kwargs or {}),
            }
            epochs = np.arange(1, values.shape[0] + 1)
            (self.lines_[key],) = ax.plot(epochs, values, **kwargs)

        if log_scale:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(
            "loss" if all("loss" in key for key in series) else "value logged per epoch"
        )
        if self.name is not None:
            ax.set_title(self.name)
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(cls, detector, *, keys=None, log_scale=False, name=None,
                       ax=None, line_kwargs=None):
        """Draw the ``history_`` of a fitted deep detector.

        Parameters
        ----------
        detector : fitted detector
            A detector trained by gradient descent (skanomaly's deep
            detectors that train for ``epochs``), or a
            :class:`~sklearn.pipeline.Pipeline` ending in one.
        keys : list of str, default=None
            Names of the series to draw; all of them when ``None``.
        log_scale : bool, default=False
            Logarithmic loss axis, see :meth:`plot`.
        name : str, default=None
            Title of the axes; the detector's class name when ``None``.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.
        line_kwargs : dict, default=None
            Style of the lines, see :meth:`plot`.

        Returns
        -------
        display : TrainingHistoryDisplay

        Raises
        ------
        NotFittedError
            If the detector is not fitted.
        TypeError
            If the detector keeps no ``history_``: it does not train by
            epochs of gradient descent (scikit-learn's detectors, or deep
            detectors fitted otherwise, such as a memory bank of features).
        """
        import_pyplot()
        final = _final_step(detector)
        kind = type(final).__name__
        if isinstance(final, Mapping):
            raise TypeError(
                "from_estimator takes a fitted detector; draw a history dict "
                "with TrainingHistoryDisplay(history=...).plot()."
            )
        if not hasattr(final, "history_"):
            try:
                check_is_fitted(final)
            except NotFittedError as exc:
                raise NotFittedError(
                    f"{kind} is not fitted, so it has no training history "
                    "(history_) yet: fit it first. Only detectors trained by "
                    "gradient descent, skanomaly's deep detectors with "
                    "epochs, keep one."
                ) from exc
            raise TypeError(
                f"{kind} keeps no training history (history_): only detectors "
                "trained by gradient descent, skanomaly's deep detectors with "
                "epochs, log their losses epoch by epoch."
            )
        display = cls(history=final.history_, name=kind if name is None else name)
        return display.plot(ax=ax, keys=keys, log_scale=log_scale,
                            line_kwargs=line_kwargs)
