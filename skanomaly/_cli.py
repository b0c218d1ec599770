"""``skanomaly fit`` and ``skanomaly score``: detectors on a user's own data
from the command line.

DATA is a CSV or Parquet file of rows (one sample a row, numeric columns)
or a folder of images. ``fit`` trains a detector and saves it with
:func:`skanomaly.save` (for images, a pipeline that reads and resizes the
files first, so that ``score`` takes a folder as ``fit`` did); ``score``
loads it and writes a CSV of scores and labels, and for images the
anomaly maps laid over the images as PNG files.
"""

import ast
import sys
from pathlib import Path

import numpy as np

#: Image files a folder is read for.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Row files, by suffix, and how pandas reads them.
TABLE_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".pq": "read_parquet"}

FIT_EXAMPLES = """\
examples:
  skanomaly fit AutoEncoder sensors.csv -o sensors.skanomaly
  skanomaly fit VAE sensors.parquet -o vae.skanomaly --exclude timestamp --param epochs=50
  skanomaly fit ConvAutoEncoder good_images/ -o inspector.skanomaly --image-size 64 64
  skanomaly fit PatchCore good_images/ -o patchcore.skanomaly --param weights=None
  skanomaly fit IsolationForest sensors.csv -o forest.skanomaly --param n_estimators=300

Parameters take Python literals (5, 0.1, (64, 16), None, 'ssim') and
otherwise a string; each detector's documentation lists its own.
"""

SCORE_EXAMPLES = """\
examples:
  skanomaly score sensors.skanomaly new_sensors.csv -o scores.csv
  skanomaly score inspector.skanomaly new_images/ -o scores.csv

The CSV has one row a sample: its id (row number, the --id-column, or the
image file), score (higher is more normal), decision (negative for an
outlier) and label (1 normal, -1 anomaly). For images, the anomaly maps
laid over the images go to a folder beside it (--maps).
"""


class CommandLineError(Exception):
    """A problem with what the user gave: printed as one line, no trace."""


# ---------------------------------------------------------------- detectors
def _detector_classes():
    """Name -> class of every detector the command line fits."""
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.svm import OneClassSVM

    from .utils import all_estimators

    classes = {
        name: cls
        for name, cls in all_estimators()
        if hasattr(cls, "score_samples") and name != "ConformalThreshold"
    }
    classes.update(
        IsolationForest=IsolationForest,
        OneClassSVM=OneClassSVM,
        LocalOutlierFactor=LocalOutlierFactor,
    )
    return classes


def _parse_params(pairs):
    params = {}
    for pair in pairs:
        name, equals, text = pair.partition("=")
        if not equals or not name.strip():
            raise CommandLineError(f"--param takes name=value, got {pair!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        params[name.strip()] = value
    return params


def _make_detector(name, params):
    classes = _detector_classes()
    if name not in classes:
        raise CommandLineError(
            f"unknown detector {name!r}; choose one of: {', '.join(sorted(classes))}"
        )
    cls = classes[name]
    if name == "LocalOutlierFactor":
        # It scores new data only as a novelty detector.
        params = {"novelty": True, **params}
    unknown = sorted(set(params) - set(cls().get_params()))
    if unknown:
        raise CommandLineError(
            f"{name} has no parameter {', '.join(map(repr, unknown))}; its "
            f"parameters are: {', '.join(sorted(cls().get_params()))}"
        )
    detector = cls(**params)
    if "verbose" in detector.get_params() and "verbose" not in params:
        detector.set_params(verbose=1)  # Keras' progress bars
    return detector


# ---------------------------------------------------------------- data
def _image_files(folder):
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CommandLineError(
            f"no image files in {folder} (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def _read_table(path, exclude, id_column):
    import pandas as pd

    reader = TABLE_READERS.get(path.suffix.lower())
    if reader is None:
        raise CommandLineError(
            f"{path}: give a CSV (.csv) or Parquet (.parquet, .pq) file of "
            "rows, or a folder of images"
        )
    try:
        table = getattr(pd, reader)(path)
    except ImportError as error:
        raise CommandLineError(f"reading {path} needs a Parquet engine: {error}") from None
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise CommandLineError(f"cannot read {path}: {error}") from None
    missing = [c for c in [*exclude, *([id_column] if id_column else [])] if c not in table]
    if missing:
        raise CommandLineError(
            f"{path} has no column {', '.join(map(repr, missing))}; its columns "
            f"are: {', '.join(map(str, table.columns))}"
        )
    ids = table[id_column].to_numpy() if id_column else np.arange(len(table))
    features = table.drop(columns=[*exclude, *([id_column] if id_column else [])])
    not_numeric = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if not_numeric:
        raise CommandLineError(
            f"{path}: the columns {', '.join(map(repr, not_numeric))} are not "
            "numbers; leave them out with --exclude (or name an id column "
            "with --id-column)"
        )
    features.columns = [str(c) for c in features.columns]
    return features, ids


def _read_data(path, exclude=(), id_column=None):
    """``(X, ids, is_images)`` from a table file or a folder of images."""
    path = Path(path)
    if not path.exists():
        raise CommandLineError(f"no file or folder at {path}")
    if path.is_dir():
        if exclude or id_column:
            raise CommandLineError("--exclude and --id-column apply to a table, not to images")
        files = _image_files(path)
        return [str(f) for f in files], [f.name for f in files], True
    X, ids = _read_table(path, exclude, id_column)
    return X, ids, False


def _image_pipeline(detector, files, image_size, color):
    from sklearn.pipeline import make_pipeline

    from .engine import ImageInput
    from .features import ImageLoader, ImageResizer, load_images

    if image_size is None:
        image_size = load_images(files[:1], color=color)[0].shape[:2]
    # A detector of rows reads each image as one row of pixels.
    flatten = not isinstance(detector, ImageInput)
    return make_pipeline(
        ImageLoader(color=color),
        ImageResizer(tuple(image_size), color=color, flatten=flatten),
        detector,
    )


# ---------------------------------------------------------------- commands
def fit(args):
    from .utils import save

    detector = _make_detector(args.detector, _parse_params(args.param))
    X, _, is_images = _read_data(args.data, args.exclude, args.id_column)
    if args.quiet and "verbose" in detector.get_params():
        detector.set_params(verbose=0)
    model = _image_pipeline(detector, X, args.image_size, args.color) if is_images else detector
    model.fit(X)
    save(model, args.output)
    print(f"fitted {args.detector} on {len(X)} samples; saved to {args.output}")


def score(args):
    from sklearn.pipeline import Pipeline

    from .utils import load

    try:
        model = load(args.model)
    except FileNotFoundError as error:
        raise CommandLineError(str(error)) from None
    X, ids, is_images = _read_data(args.data, args.exclude, args.id_column)
    if is_images != isinstance(model, Pipeline):
        raise CommandLineError(
            f"{args.model} was fitted on {'rows' if is_images else 'images'}; "
            f"{args.data} holds {'images' if is_images else 'rows'}"
        )
    detector = model[-1] if is_images else model
    if "verbose" in detector.get_params():
        detector.set_params(verbose=0 if args.quiet else 1)
    decision = model.decision_function(X)
    scores = model.score_samples(X)
    _write_scores(args.output, ids, scores, decision)
    print(f"scored {len(scores)} samples ({int((decision < 0).sum())} anomalies); wrote {args.output}")
    if is_images and hasattr(detector, "anomaly_map"):
        maps_folder = Path(args.maps) if args.maps else _default_maps_folder(args.output)
        images = model[:-1].transform(X)
        _write_overlays(maps_folder, ids, images, detector.anomaly_map(images))
        print(f"wrote {len(ids)} anomaly maps to {maps_folder}")


def _write_scores(path, ids, scores, decision):
    import pandas as pd

    pd.DataFrame(
        {
            "sample": ids,
            "score": scores,
            "decision": decision,
            "label": np.where(decision < 0, -1, 1),
        }
    ).to_csv(path, index=False)


def _default_maps_folder(output):
    output = Path(output)
    return output.with_name(output.stem + "_maps")


def _write_overlays(folder, names, images, maps):
    """Each map, in one colour scale for all, laid over its image."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    low, high = np.percentile(maps, [1.0, 99.9])
    heat = np.clip((maps - low) / max(high - low, 1e-12), 0.0, 1.0)
    # A black-red-yellow-white scale, as matplotlib's "hot".
    colours = np.stack(
        [np.clip(3 * heat, 0, 1), np.clip(3 * heat - 1, 0, 1), np.clip(3 * heat - 2, 0, 1)], -1
    )
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[..., None]
    gray = images.mean(axis=-1, keepdims=True)
    gray = (gray - gray.min()) / max(float(np.ptp(gray)), 1e-12)
    blended = 0.5 * gray + 0.5 * colours
    for name, picture in zip(names, blended):
        Image.fromarray((picture * 255).round().astype(np.uint8)).save(
            folder / (Path(name).stem + "_map.png")
        )


def add_commands(commands):
    """The ``fit`` and ``score`` subcommands of the ``skanomaly`` parser."""
    import argparse

    def data_options(parser):
        parser.add_argument(
            "--exclude", nargs="+", default=[], metavar="COLUMN",
            help="table columns to leave out (identifiers, labels, text)",
        )
        parser.add_argument(
            "--id-column", metavar="COLUMN",
            help="a table column that names each sample (left out of the features)",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    fit_parser = commands.add_parser(
        "fit",
        help="train a detector on a CSV or Parquet file of rows or a folder of images",
        description="Train DETECTOR on DATA, normal samples (mostly), and save it to MODEL.",
        epilog=FIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit_parser.add_argument("detector", metavar="DETECTOR", help="a detector's name, such as AutoEncoder")
    fit_parser.add_argument("data", metavar="DATA", help="a .csv or .parquet file, or a folder of images")
    fit_parser.add_argument("-o", "--output", required=True, metavar="MODEL", help="the file to save the model to")
    fit_parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a parameter of the detector (repeat for several)",
    )
    fit_parser.add_argument(
        "--image-size", nargs=2, type=int, metavar=("HEIGHT", "WIDTH"),
        help="size images are resized to (default: that of the first image)",
    )
    fit_parser.add_argument(
        "--color", choices=["keep", "gray", "rgb"], default="keep",
        help="read images as they are, in grayscale or in RGB (default: keep)",
    )
    data_options(fit_parser)
    fit_parser.set_defaults(run=fit)

    score_parser = commands.add_parser(
        "score",
        help="score a CSV or Parquet file or a folder of images with a saved model",
        description="Score DATA with MODEL (from skanomaly fit) and write a CSV to OUT.",
        epilog=SCORE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score_parser.add_argument("model", metavar="MODEL", help="a model saved by skanomaly fit")
    score_parser.add_argument("data", metavar="DATA", help="a .csv or .parquet file, or a folder of images")
    score_parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the CSV to write")
    score_parser.add_argument(
        "--maps", metavar="FOLDER",
        help="where anomaly-map overlays go, for images (default: OUT's name + _maps)",
    )
    data_options(score_parser)
    score_parser.set_defaults(run=score)


def run(args):
    """Run a ``fit`` or ``score`` command; a problem with the user's input
    is printed as one line on stderr, with exit status 2."""
    try:
        args.run(args)
    except (CommandLineError, ValueError, TypeError, OSError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"skanomaly {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0
