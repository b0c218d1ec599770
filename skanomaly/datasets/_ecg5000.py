"""ECG5000: 5,000 heartbeats of 140 samples, one normal class and four
abnormal ones, from the UCR time series archive."""

import re
from numbers import Integral
from pathlib import Path

import numpy as np

__all__ = ["load_ecg5000"]

#: Samples in one ECG5000 heartbeat.
N_STEPS = 140
#: The classes of ECG5000: 1 is a normal beat, 2 to 5 are abnormal ones.
CLASSES = (1, 2, 3, 4, 5)
NORMAL_CLASS = 1
#: Extensions tried, in this order, when ``path`` is a folder.
_EXTENSIONS = (".tsv", ".txt", ".csv", ".arff", "")
_SEPARATORS = re.compile(r"[,\s]+")


def _find_file(folder, subset):
    """The ECG5000 file of ``subset`` in ``folder``."""
    stem = f"ECG5000_{subset.upper()}"
    by_name = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    for extension in _EXTENSIONS:
        found = by_name.get((stem + extension).lower())
        if found is not None:
            return found
    raise FileNotFoundError(
        f"No {stem} file ({', '.join(stem + e for e in _EXTENSIONS if e)} or "
        f"{stem}) in {folder}."
    )


def _read_rows(path):
    """Numeric rows of a delimited or ARFF file, and the index of the ARFF's
    nominal attribute (the class) if it declares one."""
    rows = []
    attributes = []  # (name, is_nominal) from an ARFF header
    in_header = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith(("%", "#")):
                continue
            if line.startswith("@"):
                keyword = line.split(None, 1)[0].lower()
                if keyword == "@attribute":
                    parts = line.split(None, 2)
                    declared = parts[2] if len(parts) > 2 else ""
                    attributes.append(declared.strip().startswith("{"))
                # Anything between the first "@" line and "@data" is header.
                in_header = keyword != "@data"
                continue
            if in_header:
                continue
            tokens = [t.strip("'\"") for t in _SEPARATORS.split(line)]
            try:
                rows.append([float(t) for t in tokens])
            except ValueError:
                bad = next(t for t in tokens if not _is_number(t))
                raise ValueError(
                    f"{path}, line {number}: cannot read {bad!r} as a number. "
                    "ECG5000 files hold numbers separated by commas, spaces or "
                    "tabs, with an optional ARFF header."
                ) from None
            if len(rows[-1]) != len(rows[0]):
                raise ValueError(
                    f"{path}, line {number}: {len(rows[-1])} values, but the "
                    f"first row has {len(rows[0])}."
                )
    if not rows:
        raise ValueError(f"{path} holds no data rows.")
    nominal = [i for i, is_nominal in enumerate(attributes) if is_nominal]
    return np.asarray(rows, dtype=np.float64), (nominal[-1] if nominal else None)


def _is_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def _is_class_column(values):
    return bool(np.all(np.isin(values, CLASSES)))


def _label_index(data, label_column, nominal, path):
    n_columns = data.shape[1]
    if isinstance(label_column, Integral) and not isinstance(label_column, bool):
        if not -n_columns <= label_column < n_columns:
            raise ValueError(
                f"label_column={label_column} is out of range for rows of "
                f"{n_columns} values."
            )
        return int(label_column) % n_columns
    if label_column == "first":
        return 0
    if label_column == "last":
        return n_columns - 1
    if label_column != "auto":
        raise ValueError(
            "label_column must be 'auto', 'first', 'last' or a column index; "
            f"got {label_column!r}."
        )
    if nominal is not None and nominal < n_columns:
        return nominal  # the ARFF header says which attribute is the class
    candidates = [i for i in (0, n_columns - 1) if _is_class_column(data[:, i])]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValueError(
            f"{path}: neither the first nor the last column holds only the "
            f"class labels {list(CLASSES)}, so the labels cannot be found. Is "
            "this an ECG5000 file? Pass label_column if the labels are "
            "elsewhere."
        )
    raise ValueError(
        f"{path}: both the first and the last column hold only values in "
        f"{list(CLASSES)}; pass label_column='first' or 'last'."
    )


def load_ecg5000(path, *, subset="train", label_column="auto", return_classes=False):
    """Load the ECG5000 heartbeats from a file or a folder.

    ECG5000 (UCR time series archive) holds 5,000 heartbeats of one patient
    with congestive heart failure, each resampled to 140 values: 500 in the
    training split, 4,500 in the test split. Class 1 is a normal beat;
    classes 2 to 5 are abnormal ones (R-on-T premature ventricular
    contraction, supraventricular premature beat, premature ventricular
    contraction, unclassified). For anomaly detection, class 1 is normal
    and every other class is an anomaly.

    The files come in several layouts, all read here: the class first (the
    UCR archive's ``.tsv`` and ``.txt``) or last (ARFF files and some
    copies), values separated by commas, spaces or tabs, with or without an
    ARFF header (``@relation``, ``@attribute``, ``@data``). Nothing is
    downloaded: get the data from the UCR archive or
    timeseriesclassification.com and pass its path.

    Parameters
    ----------
    path : str or path-like
        An ECG5000 file, or a folder holding ``ECG5000_TRAIN`` and/or
        ``ECG5000_TEST`` files (with the extension ``.tsv``, ``.txt``,
        ``.csv``, ``.arff`` or none, tried in this order).
    subset : {"train", "test", "all"}, default="train"
        Which split to read from a folder: ``"all"`` is the training split
        followed by the test split. Ignored when ``path`` is a file.
    label_column : "auto", "first", "last" or int, default="auto"
        Where the class is in each row. ``"auto"`` takes the nominal
        attribute of an ARFF header, else the first or last column when it
        alone holds only the classes 1 to 5.
    return_classes : bool, default=False
        Also return the original classes, 1 to 5.

    Returns
    -------
    X : ndarray of shape (n_beats, 140)
        The heartbeats, one a row (as in the files, each z-normalised).
    y : ndarray of shape (n_beats,)
        ``0`` for a normal beat (class 1), ``1`` for an anomaly (classes 2
        to 5), as :mod:`skanomaly.metrics` and
        :class:`~skanomaly.model_selection.NoveltySplit` expect.
    classes : ndarray of shape (n_beats,)
        The original classes, 1 to 5; only with ``return_classes=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist, or a folder holds no file of ``subset``.
    ValueError
        If the file cannot be read as ECG5000: values that are not numbers,
        rows of unequal length, no column of classes, or beats that are not
        140 values long.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from skanomaly.datasets import load_ecg5000
    >>> beats = np.round(np.random.RandomState(0).normal(size=(3, 140)), 4)
    >>> rows = [",".join(map(str, b)) + f",{c}" for b, c in zip(beats, [1, 1, 3])]
    >>> path = os.path.join(tempfile.mkdtemp(), "ECG5000_TRAIN.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("\\n".join(rows))
    >>> X, y = load_ecg5000(path)
    >>> X.shape, y.tolist()
    ((3, 140), [0, 0, 1])
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file or folder: {path}")
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all'; got {subset!r}.")
    if path.is_dir():
        subsets = ["train", "test"] if subset == "all" else [subset]
        files = [_find_file(path, s) for s in subsets]
    else:
        files = [path]

    parts_X, parts_classes = [], []
    for file in files:
        data, nominal = _read_rows(file)
        label = _label_index(data, label_column, nominal, file)
        classes = data[:, label]
        if not _is_class_column(classes):
            found = sorted(set(np.unique(classes).tolist()) - set(CLASSES))[:5]
            raise ValueError(
                f"{file}: column {label} should hold the classes "
                f"{list(CLASSES)}, but it also holds {found}."
            )
        X = np.delete(data, label, axis=1)
        if X.shape[1] != N_STEPS:
            raise ValueError(
                f"{file}: ECG5000 beats have {N_STEPS} values, but the rows "
                f"hold {X.shape[1]} besides the class."
            )
        parts_X.append(X)
        parts_classes.append(classes.astype(np.int64))

    X = np.concatenate(parts_X)
    classes = np.concatenate(parts_classes)
    y = (classes != NORMAL_CLASS).astype(np.int64)
    if return_classes:
        return X, y, classes
    return X, y
