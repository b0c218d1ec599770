"""The command line: ``skanomaly fit`` and ``skanomaly score`` on files."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from skanomaly import load
from skanomaly.__main__ import main


@pytest.fixture
def table(tmp_path):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(120, 3)), columns=["speed", "load", "heat"])
    frame.insert(0, "machine", [f"m{i}" for i in range(120)])
    frame.to_csv(tmp_path / "train.csv", index=False)
    new = frame.iloc[:10].copy()
    new.loc[new.index[:2], ["speed", "load", "heat"]] = 8.0  # two planted anomalies
    new.to_parquet(tmp_path / "new.parquet")
    return tmp_path


def _write_images(folder, rng, n, defect=False):
    folder.mkdir()
    for i in range(n):
        image = 0.5 + 0.05 * rng.normal(size=(12, 12))
        if defect and i == 0:
            image[3:7, 3:7] = 1.0
        Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).save(folder / f"part{i}.png")


@pytest.fixture
def image_folders(tmp_path):
    rng = np.random.RandomState(0)
    _write_images(tmp_path / "good", rng, 16)
    _write_images(tmp_path / "new", rng, 4, defect=True)
    return tmp_path


def test_fit_and_score_rows(table, capsys):
    model, scores = table / "model.skanomaly", table / "scores.csv"
    assert main(["fit", "AutoEncoder", str(table / "train.csv"), "-o", str(model),
                 "--id-column", "machine", "--param", "epochs=20", "--param", "hidden_units=(8, 2)",
                 "--param", "random_state=0", "--quiet"]) == 0
    assert main(["score", str(model), str(table / "new.parquet"), "-o", str(scores),
                 "--id-column", "machine", "--quiet"]) == 0
    assert "scored 10 samples" in capsys.readouterr().out

    written = pd.read_csv(scores)
    assert list(written.columns) == ["sample", "score", "decision", "label"]
    assert list(written["sample"]) == [f"m{i}" for i in range(10)]
    detector = load(model)
    assert list(detector.feature_names_in_) == ["speed", "load", "heat"]
    features = pd.read_parquet(table / "new.parquet").drop(columns="machine")
    assert_allclose(written["score"], detector.score_samples(features))
    assert_array_equal(written["label"], detector.predict(features))
    # The planted anomalies are the least normal.
    assert set(written.nsmallest(2, "score")["sample"]) == {"m0", "m1"}


def test_a_classical_detector_on_rows(table):
    model = table / "forest"
    assert main(["fit", "IsolationForest", str(table / "train.csv"), "-o", str(model),
                 "--exclude", "machine", "--param", "random_state=0"]) == 0
    assert main(["score", str(model), str(table / "new.parquet"), "-o", str(table / "s.csv"),
                 "--exclude", "machine"]) == 0
    written = pd.read_csv(table / "s.csv")
    assert list(written["sample"]) == list(range(10))
    assert set(written.nsmallest(2, "score")["sample"]) == {0, 1}


def test_fit_and_score_images_with_maps(image_folders):
    folder = image_folders
    model = folder / "inspector.skanomaly"
    assert main(["fit", "ConvAutoEncoder", str(folder / "good"), "-o", str(model),
                 "--param", "epochs=2", "--param", "random_state=0", "--quiet"]) == 0
    assert main(["score", str(model), str(folder / "new"), "-o", str(folder / "scores.csv"),
                 "--quiet"]) == 0
    written = pd.read_csv(folder / "scores.csv")
    assert list(written["sample"]) == [f"part{i}.png" for i in range(4)]
    pipeline = load(model)
    files = [str(folder / "new" / name) for name in written["sample"]]
    assert_allclose(written["score"], pipeline.score_samples(files))

    overlays = sorted((folder / "scores_maps").glob("*.png"))
    assert [p.name for p in overlays] == [f"part{i}_map.png" for i in range(4)]
    overlay = np.asarray(Image.open(overlays[0]))
    assert overlay.shape == (12, 12, 3)


def test_help_gives_examples(capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "skanomaly fit ConvAutoEncoder good_images/" in text


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["fit", "Nope", "{train}", "-o", "{model}"], "unknown detector 'Nope'; choose one of: AutoEncoder"),
        (["fit", "AutoEncoder", "{train}", "-o", "{model}"], "the columns 'machine' are not numbers; leave them out with --exclude"),
        (["fit", "AutoEncoder", "{train}", "-o", "{model}", "--exclude", "machine", "--param", "epochs=0"],
         "The 'epochs' parameter of AutoEncoder must be an int in the range"),
        (["fit", "AutoEncoder", "{train}", "-o", "{model}", "--param", "epochs"], "--param takes name=value, got 'epochs'"),
        (["fit", "AutoEncoder", "{train}", "-o", "{model}", "--param", "epoch=3"], "AutoEncoder has no parameter 'epoch'"),
        (["fit", "AutoEncoder", "{train}", "-o", "{model}", "--exclude", "colour"], "has no column 'colour'"),
        (["fit", "AutoEncoder", "{missing}", "-o", "{model}"], "no file or folder at"),
        (["fit", "AutoEncoder", "{text}", "-o", "{model}"], "give a CSV (.csv) or Parquet (.parquet, .pq) file"),
        (["fit", "AutoEncoder", "{empty}", "-o", "{model}"], "no image files in"),
        (["score", "{missing}", "{train}", "-o", "{out}"], "no file at"),
        (["score", "{text}", "{train}", "-o", "{out}"], "is not a file written by skanomaly.save"),
    ],
)
def test_bad_input_is_one_line_and_status_2(arguments, message, table, capsys):
    (table / "notes.txt").write_text("hello")
    (table / "empty").mkdir()
    paths = dict(train=table / "train.csv", model=table / "m", missing=table / "missing.csv",
                 text=table / "notes.txt", empty=table / "empty", out=table / "o.csv")
    assert main([a.format(**paths) for a in arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"skanomaly {arguments[0]}: error: ")
    assert message in error and len(error.strip().splitlines()) == 1


def test_scoring_images_with_a_model_of_rows_says_so(table, image_folders, capsys):
    model = table / "forest"
    main(["fit", "IsolationForest", str(table / "train.csv"), "-o", str(model), "--exclude", "machine"])
    assert main(["score", str(model), str(image_folders / "new"), "-o", str(table / "o.csv")]) == 2
    assert "was fitted on rows; " in capsys.readouterr().err


def test_the_console_command_prints_no_trace_and_no_tensorflow_notes(table):
    model = table / "model"
    # As a user runs it: without the tests' own TensorFlow log setting.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    fitted = subprocess.run(
        [sys.executable, "-m", "skanomaly", "fit", "AutoEncoder", str(table / "train.csv"),
         "-o", str(model), "--exclude", "machine", "--param", "epochs=1", "--quiet"],
        capture_output=True, text=True, env=env,
    )
    assert fitted.returncode == 0, fitted.stderr
    scored = subprocess.run(
        [sys.executable, "-m", "skanomaly", "score", str(model), str(table / "train.csv"),
         "-o", str(table / "o.csv"), "--quiet"],
        capture_output=True, text=True, env=env,
    )
    assert scored.returncode == 2
    assert scored.stderr.startswith("skanomaly score: error: ")
    assert "Traceback" not in scored.stderr and "cuda" not in scored.stderr.lower()
    assert "cuda" not in fitted.stderr.lower() and "oneDNN" not in fitted.stderr
