"""What the detectors that learn across tasks share: episodic training over
the tasks of ``groups``, and adapting to a new task from its support set."""

from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ..engine import BaseGradientDetector
from ..utils._parameters import Attribute, Parameter
from ..engine._labels import check_labels
from ..engine._scaling import apply_scaling
from ..engine._training import episode_dataset

N_SUPPORT_ANOMALIES = Parameter(
    "n_support_anomalies", 5, [Interval(Integral, 1, None, closed="left")], "int >= 1",
    """
    Labelled anomalies in each training episode's support set: the number
    of shots the detector is trained for (train with as many as the new
    tasks will have). :meth:`adapt` takes any number.
    """,
)
N_SUPPORT_NORMALS = Parameter(
    "n_support_normals", 20, [Interval(Integral, 1, None, closed="left")], "int >= 1",
    "Normal (or unlabelled) samples in each training episode's support set.",
)


class EpisodicDetector(BaseGradientDetector):
    """Base class of the detectors that learn across tasks (meta-learning)
    from a few labelled anomalies of each.

    ``fit(X, y, groups)`` trains on episodes (see
    :func:`~skanomaly.engine._training.episode_dataset`): each step draws a
    task, a support set of ``n_support_anomalies`` labelled anomalies and
    ``n_support_normals`` other samples, and a query set of ``batch_size``
    other samples of the task, half anomalies; the network's
    ``train_step`` takes them as ``(x, (labels, in_support))``. After
    training, and after :meth:`adapt` to a new task, the detector is set to
    a task by the subclass's ``_set_task(network, X, labels)``: from all
    the (scaled) training data after ``fit``, from the support set after
    ``adapt``. Its ``offset_`` is 0 with ``contamination="auto"``, so that
    a sample is an outlier when the detector's two classes put it nearer
    the anomalies.
    """

    _shared_parameters = (N_SUPPORT_ANOMALIES, N_SUPPORT_NORMALS)
    _shared_attributes = (
        Attribute("n_tasks_", "int", "Number of tasks trained on (1 without ``groups``)."),
    )
    _fit_labels = {1, 0, -1}
    _needs_anomaly_labels = True
    _fit_groups = True
    # A custom train_step: the loss is the query set's, given the support's.
    _trims_losses = False
    # Too few labelled anomalies per task to stop on (the subclasses' Notes).
    _early_stopping_monitor = None

    @classmethod
    def _docstring_notes(cls):
        return [
            *super()._docstring_notes(),
            "**Groups and metadata routing.** ``groups`` reaches ``fit`` inside a "
            "``Pipeline`` or ``GridSearchCV`` through scikit-learn's metadata "
            "routing: enable it (``sklearn.set_config(enable_metadata_routing=True)``) "
            "and call ``set_fit_request(groups=True)`` on the detector. Without "
            "routing, ``GridSearchCV.fit(X, y, groups=groups)`` gives ``groups`` to "
            "the splitter only, and the detector trains on all its training samples "
            "as one task.",
        ]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None):
        """Train on episodes drawn from the tasks of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data of all the tasks.
        y : array-like of shape (n_samples,)
            Labels: ``1`` for a labelled anomaly, ``0`` for a normal sample,
            ``-1`` for an unlabelled one (taken as normal). Required.
        groups : array-like of shape (n_samples,), default=None
            The task of each sample (any identifiers of one kind), naming
            at least two tasks; ``None`` takes all the samples as one task.
            Inside a ``Pipeline`` or ``GridSearchCV``, it reaches ``fit``
            through metadata routing (``set_fit_request(groups=True)``).

        Returns
        -------
        self : object
            The fitted detector, set to the training tasks pooled.
        """
        return self._fit_checked(X, y, groups=groups)

    def adapt(self, X, y):
        """Set the detector to a new task from a few of its labelled
        samples, its support set.

        The trained network is left as it is, and so are the fit's other
        attributes (``offset_`` included). Scores, predictions and pickles
        then are those of the new task; the class says how it adapts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The new task's support set.
        y : array-like of shape (n_samples,)
            Its labels: ``1`` for a labelled anomaly, ``0`` or ``-1`` for
            the other samples, taken as normal. At least one of each.

        Returns
        -------
        self : object
            The detector, set to the new task.
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        owner = f"{type(self).__name__}.adapt"
        labels = check_labels(
            y, X.shape[0], accepted=self._fit_labels, needs_anomalies=True, owner=owner
        )
        if np.all(labels == 1):
            raise ValueError(
                f"{owner} needs normal samples (0) or unlabelled ones (-1) in "
                "the support set, and every label is 1."
            )
        scaled = apply_scaling(X, self.scaling_center_, self.scaling_scale_)
        self._set_task(self.model_, scaled, labels)
        self._scorer = self._make_scorer()
        return self

    # ---------------------------------------------------- subclass hook
    def _set_task(self, network, X, labels):  # pragma: no cover - abstract
        """Set the fitted attributes that make the scores those of the task
        of ``X`` (scaled) and ``labels``."""
        raise NotImplementedError

    # ------------------------------------------------------ engine hooks
    def _fit(self, X, y, groups=None):
        if self.distribute is not None:
            raise ValueError(
                f"{type(self).__name__} trains on one episode a step, whose "
                "support and query sets must stay on one device: set "
                "distribute=None."
            )
        return super()._fit(X, y, groups)

    def _training_data(self, X, y, groups, batch_size, seed):
        if batch_size < 2:
            raise ValueError(
                f"{type(self).__name__}: batch_size is the size of an "
                "episode's query set, half anomalies, half normal samples, "
                f"and must be at least 2; got {batch_size}."
            )
        return episode_dataset(
            X,
            y,
            groups,
            n_support=(self.n_support_anomalies, self.n_support_normals),
            n_query=(batch_size // 2, batch_size - batch_size // 2),
            seed=seed,
            owner=type(self).__name__,
            support_names=("n_support_anomalies", "n_support_normals"),
        )

    def _fit_network(self, network, X, y, *, seed, warm, groups):
        super()._fit_network(network, X, y, seed=seed, warm=warm, groups=groups)
        self.n_tasks_ = 1 if groups is None else int(np.unique(groups).shape[0])
        self._set_task(network, X, y)

    def _auto_offset(self, train_scores):
        # Nearer the anomalies than the normal samples (the class).
        return 0.0
