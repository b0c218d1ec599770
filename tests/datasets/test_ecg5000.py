"""load_ecg5000 on small files made here, and on the real file when present."""

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skanomaly.datasets import load_ecg5000

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ecg5000"
CLASSES = np.array([1, 3, 1, 2, 5, 1, 4])


@pytest.fixture(scope="module")
def beats():
    # Rounded so that every layout writes and reads back the same numbers.
    return np.round(np.random.RandomState(0).normal(size=(len(CLASSES), 140)), 6)


def write(path, beats, classes, *, separator=",", label="last", header=False):
    lines = []
    if header:
        lines += ["% ECG5000, a test copy", "@relation ECG5000", ""]
        attributes = [f"@attribute att{i} numeric" for i in range(1, 141)]
        target = "@attribute target {1,2,3,4,5}"
        lines += ([target] + attributes) if label == "first" else (attributes + [target])
        lines += ["", "@data"]
    for beat, cls in zip(beats, classes):
        values = [repr(float(v)) for v in beat]
        row = [str(cls)] + values if label == "first" else values + [str(cls)]
        lines.append(separator.join(row))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("separator", [",", " ", "\t", "   "])
@pytest.mark.parametrize("label", ["first", "last"])
@pytest.mark.parametrize("header", [False, True])
def test_every_layout(tmp_path, beats, separator, label, header):
    path = write(tmp_path / "ECG5000_TRAIN.arff", beats, CLASSES,
                 separator=separator, label=label, header=header)
    X, y, classes = load_ecg5000(path, return_classes=True)
    assert X.dtype == np.float64 and X.shape == (7, 140)
    assert_allclose(X, beats)
    assert_array_equal(classes, CLASSES)
    # Class 1 is normal (0), every other class an anomaly (1).
    assert_array_equal(y, [0, 1, 0, 1, 1, 0, 1])


def test_ucr_style_scientific_notation(tmp_path, beats):
    # The old UCR .txt files: label first, numbers like "-1.1252183e-001".
    lines = [
        "  " + "  ".join([f"{c:.7e}"] + [f"{v:.7e}" for v in beat])
        for beat, c in zip(beats, CLASSES)
    ]
    path = tmp_path / "ECG5000_TRAIN.txt"
    path.write_text("\n".join(lines) + "\n")
    X, y = load_ecg5000(path)
    assert_allclose(X, beats, rtol=1e-6)
    assert y.tolist() == [0, 1, 0, 1, 1, 0, 1]


def test_folder_and_subsets(tmp_path, beats):
    write(tmp_path / "ECG5000_TRAIN.tsv", beats[:4], CLASSES[:4], separator="\t", label="first")
    write(tmp_path / "ECG5000_TEST.txt", beats[4:], CLASSES[4:], separator=" ", label="first")
    X, y = load_ecg5000(tmp_path)
    assert_allclose(X, beats[:4])
    X_test, _ = load_ecg5000(tmp_path, subset="test")
    assert_allclose(X_test, beats[4:])
    X_all, y_all, classes = load_ecg5000(tmp_path, subset="all", return_classes=True)
    assert_allclose(X_all, beats)
    assert_array_equal(classes, CLASSES)


def test_explicit_label_column(tmp_path, beats):
    path = write(tmp_path / "beats.csv", beats, CLASSES, label="first")
    for label_column in ("first", 0, -141):
        X, _, classes = load_ecg5000(path, label_column=label_column, return_classes=True)
        assert_array_equal(classes, CLASSES)
        assert_allclose(X, beats)
    with pytest.raises(ValueError, match="column 140 should hold the classes"):
        load_ecg5000(path, label_column="last")


def test_ambiguous_labels_need_label_column(tmp_path):
    # Beats whose first and last values are both whole numbers in 1..5.
    beats = np.tile(np.linspace(0.5, 1.5, 140), (3, 1))
    beats[:, 0] = [2, 3, 4]
    path = write(tmp_path / "beats.csv", beats, [1, 1, 2], label="last")
    with pytest.raises(ValueError, match="both the first and the last column"):
        load_ecg5000(path)
    X, y = load_ecg5000(path, label_column="last")
    assert y.tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    "content, match",
    [
        ("1,2,abc\n", "line 1: cannot read 'abc' as a number"),
        ("1,0.5,0.25\n2,0.5\n", "line 2: 2 values, but the first row has 3"),
        ("@relation x\n@data\n", "holds no data rows"),
        ("0.5,0.25,0.75\n", "neither the first nor the last column"),
        ("1,0.5,0.25\n", "ECG5000 beats have 140 values, but the rows hold 2"),
    ],
)
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_ecg5000(path)


def test_bad_arguments(tmp_path, beats):
    with pytest.raises(FileNotFoundError, match="No such file or folder"):
        load_ecg5000(tmp_path / "missing.arff")
    with pytest.raises(FileNotFoundError, match="No ECG5000_TRAIN file"):
        load_ecg5000(tmp_path)
    path = write(tmp_path / "beats.csv", beats, CLASSES)
    with pytest.raises(ValueError, match="subset must be"):
        load_ecg5000(path, subset="validation")
    with pytest.raises(ValueError, match="label_column must be"):
        load_ecg5000(path, label_column="middle")
    with pytest.raises(ValueError, match="label_column=141 is out of range"):
        load_ecg5000(path, label_column=141)


@pytest.mark.skipif(
    not (SHARED / "ECG5000_TRAIN.arff").is_file(), reason="no shared ECG5000 data here"
)
def test_the_real_training_split():
    # Despite its name, a headerless CSV with the class last.
    X, y, classes = load_ecg5000(SHARED / "ECG5000_TRAIN.arff", return_classes=True)
    assert X.shape == (500, 140)
    assert (y == 0).sum() == 292 and (y == 1).sum() == 208
    assert_array_equal(np.bincount(classes), [0, 292, 177, 10, 19, 2])
    # Each beat is z-normalised in the archive.
    assert_allclose(X.mean(axis=1), 0.0, atol=1e-3)
    X_folder, _ = load_ecg5000(SHARED)
    assert_array_equal(X_folder, X)
