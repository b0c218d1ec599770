"""HOG features followed by a One-Class SVM: a classical image baseline."""

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from ._hog import HOGTransformer

__all__ = ["make_hog_ocsvm"]


def make_hog_ocsvm(
    *,
    orientations=9,
    pixels_per_cell=(8, 8),
    cells_per_block=(3, 3),
    image_shape=None,
    nu=0.1,
    kernel="rbf",
    gamma="scale",
    memory=None,
):
    """Build a HOG + One-Class SVM image anomaly detector.

    The detector is a plain :class:`~sklearn.pipeline.Pipeline`:
    :class:`HOGTransformer` -> :class:`~sklearn.preprocessing.StandardScaler`
    -> :class:`~sklearn.svm.OneClassSVM`, so it keeps scikit-learn's outlier
    conventions (``score_samples`` is higher for more normal images,
    ``decision_function`` is negative and ``predict`` returns ``-1`` for
    outliers) and every step can be tuned with
    :class:`~sklearn.model_selection.GridSearchCV` through the step names
    ``"hogtransformer"``, ``"standardscaler"`` and ``"oneclasssvm"`` (for
    instance ``oneclasssvm__nu`` or ``hogtransformer__pixels_per_cell``).

    Parameters
    ----------
    orientations : int, default=9
        Number of orientation bins, see :class:`HOGTransformer`.

    pixels_per_cell : tuple of int, default=(8, 8)
        Size of a HOG cell in pixels, see :class:`HOGTransformer`.

    cells_per_block : tuple of int, default=(3, 3)
        Size of a HOG normalisation block in cells, see
        :class:`HOGTransformer`.

    image_shape : tuple of int, default=None
        Shape of one image, to read 2-D input of flattened images, see
        :class:`HOGTransformer`.

    nu : float, default=0.1
        Upper bound on the fraction of training images taken as outliers
        and lower bound on the fraction of support vectors, see
        :class:`~sklearn.svm.OneClassSVM`.

    kernel : {"linear", "poly", "rbf", "sigmoid"} or callable, default="rbf"
        Kernel of the One-Class SVM.

    gamma : {"scale", "auto"} or float, default="scale"
        Kernel coefficient of the One-Class SVM.

    memory : str or object with the joblib.Memory interface, default=None
        Used to cache the fitted transformers of the pipeline, see
        :class:`~sklearn.pipeline.Pipeline`. Caching the HOG features pays
        off when tuning the SVM.

    Returns
    -------
    pipeline : Pipeline
        The unfitted detector.

    See Also
    --------
    HOGTransformer : The HOG feature step.
    sklearn.svm.OneClassSVM : The detector step.

    Examples
    --------
    Learn what a handwritten zero looks like, then score new zeros and ones:

    >>> from sklearn.datasets import load_digits
    >>> from skanomaly.features import make_hog_ocsvm
    >>> X, y = load_digits(return_X_y=True)  # 8x8 images, one a row
    >>> zeros, ones = X[y == 0], X[y == 1]
    >>> detector = make_hog_ocsvm(pixels_per_cell=(4, 4), cells_per_block=(1, 1))
    >>> detector = detector.fit(zeros[:90])
    >>> list(detector.named_steps)
    ['hogtransformer', 'standardscaler', 'oneclasssvm']
    >>> new_zeros = detector.score_samples(zeros[90:])
    >>> new_ones = detector.score_samples(ones)
    >>> bool(new_zeros.mean() > new_ones.mean())
    True
    >>> float((detector.predict(ones) == -1).mean()) > 0.9
    True
    """
    return make_pipeline(
        HOGTransformer(
            orientations=orientations,
            pixels_per_cell=pixels_per_cell,
            cells_per_block=cells_per_block,
            image_shape=image_shape,
        ),
        StandardScaler(),
        OneClassSVM(nu=nu, kernel=kernel, gamma=gamma),
        memory=memory,
    )
