import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from skanomaly.plotting import plot_anomaly_map, plot_top_anomalies  # noqa: E402

rng = np.random.RandomState(0)
IMAGE = rng.uniform(size=(12, 10))
MAP = rng.uniform(size=(12, 10))
MASK = np.zeros((12, 10), dtype=bool)
MASK[3:6, 2:5] = True


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _contours(ax):
    return [c for c in ax.collections if type(c).__name__ == "QuadContourSet"]


def test_anomaly_map_over_image_with_outline():
    ax = plot_anomaly_map(IMAGE, MAP, MASK, title="part 3")
    assert len(ax.images) == 2
    image, overlay = ax.images
    np.testing.assert_array_equal(image.get_array(), IMAGE)
    np.testing.assert_array_equal(overlay.get_array(), MAP)
    assert overlay.get_alpha() == 0.5
    assert len(_contours(ax)) == 1
    assert ax.get_title() == "part 3"
    assert len(ax.figure.axes) == 2  # the colour bar
    assert ax.figure.axes[1].get_ylabel() == "anomaly score"


def test_anomaly_map_options():
    fig, given = plt.subplots()
    ax = plot_anomaly_map(IMAGE, MAP, ax=given, alpha=0.2, vmin=0, vmax=2, colorbar=False)
    assert ax is given
    assert len(fig.axes) == 1
    assert not _contours(ax)
    assert ax.images[1].get_clim() == (0, 2)
    # an empty mask draws no outline; an int mask is fine
    assert not _contours(plot_anomaly_map(IMAGE, MAP, np.zeros((12, 10), int)))
    assert _contours(plot_anomaly_map(IMAGE, MAP, MASK.astype(int)))


def test_anomaly_map_colour_images():
    for image in [rng.uniform(size=(12, 10, 3)), rng.randint(0, 255, (12, 10, 4)).astype(np.uint8),
                  IMAGE[:, :, None]]:
        ax = plot_anomaly_map(image, MAP, MASK, colorbar=False)
        assert len(ax.images) == 2


@pytest.mark.parametrize(
    "image, amap, mask, error, match",
    [
        (IMAGE, MAP[:, :5], None, ValueError, r"anomaly_map has shape \(12, 5\), but its image is \(12, 10\)"),
        (IMAGE, MAP, MASK[:5], ValueError, "mask has shape"),
        (IMAGE, MAP, MASK * 2, ValueError, "mask must be boolean"),
        (IMAGE, np.full((12, 10), np.nan), None, ValueError, "NaN"),
        (IMAGE, MAP.astype(str), None, TypeError, "anomaly_map must hold numbers"),
        (rng.uniform(size=(12, 10, 2)), MAP, None, ValueError, "grayscale image"),
        (rng.uniform(size=12), MAP, None, ValueError, "grayscale image"),
        (IMAGE.astype(str), MAP, None, TypeError, "image must hold numbers"),
    ],
)
def test_anomaly_map_bad_input(image, amap, mask, error, match):
    with pytest.raises(error, match=match):
        plot_anomaly_map(image, amap, mask)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, "half"])
def test_anomaly_map_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be"):
        plot_anomaly_map(IMAGE, MAP, alpha=alpha)


# ----------------------------------------------------------- top anomalies

IMAGES = rng.uniform(size=(9, 8, 8))
# image i gets normality score -i: image 8 is the most anomalous
SCORES = -np.arange(9.0)


def _shown(fig):
    """The images shown, identified by their pixels."""
    out = []
    for ax in fig.axes:
        shown = ax.images[0].get_array()
        out.append(next(i for i, im in enumerate(IMAGES) if np.array_equal(im, shown)))
    return out


def test_top_anomalies_order_and_count():
    fig = plot_top_anomalies(IMAGES, SCORES, n=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    assert _shown(fig) == [8, 7, 6, 5]
    assert fig.axes[0].get_title().startswith("#1  score -8")


def test_top_anomalies_anomaly_convention():
    fig = plot_top_anomalies(IMAGES, SCORES, n=3, score_convention="anomaly")
    assert _shown(fig) == [0, 1, 2]


def test_top_anomalies_grid_and_fewer_images():
    fig = plot_top_anomalies(IMAGES, SCORES, n=7, n_cols=3)
    assert len(fig.axes) == 7
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (3, 3)
    fig = plot_top_anomalies(IMAGES[:2], SCORES[:2], n=10)
    assert len(fig.axes) == 2


def test_top_anomalies_labels_maps_and_masks():
    y = (np.arange(9) >= 7).astype(int)
    masks = np.zeros((9, 8, 8), dtype=bool)
    masks[8, 2:4, 2:4] = True
    maps = rng.uniform(size=(9, 8, 8))
    fig = plot_top_anomalies(IMAGES, SCORES, n=3, y_true=y, anomaly_maps=maps, masks=masks)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].endswith("anomaly") and titles[2].endswith("normal")
    assert [len(ax.images) for ax in fig.axes] == [2, 2, 2]
    # one colour scale across the panels
    clims = {ax.images[1].get_clim() for ax in fig.axes}
    assert len(clims) == 1
    assert [len(_contours(ax)) for ax in fig.axes] == [1, 0, 0]


def test_top_anomalies_list_of_varying_sizes():
    images = [rng.uniform(size=(8, 6)), rng.uniform(size=(5, 9, 3))]
    fig = plot_top_anomalies(images, [0.0, 1.0], masks=[np.ones((8, 6)), np.zeros((5, 9))])
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(scores=SCORES[:5]), "scores has 5 entries, but there are 9 images"),
        (dict(scores=SCORES[:, None]), "scores must be a 1-D array"),
        (dict(scores=np.where(SCORES < -4, np.nan, SCORES)), "NaN"),
        (dict(y_true=[0, 1]), "y_true has 2 entries"),
        (dict(y_true=np.full(9, 2)), "y_true must hold 1"),
        (dict(masks=np.zeros((9, 7, 8), bool)), r"masks\[8\] has shape \(7, 8\)"),
        (dict(anomaly_maps=np.zeros((3, 8, 8))), "anomaly_maps has 3 entries"),
        (dict(anomaly_maps=np.full((9, 8, 8), np.inf)), "NaN or infinity"),
        (dict(n=0), "n must be a positive integer"),
        (dict(n_cols=2.5), "n_cols must be a positive integer"),
        (dict(score_convention="anomalous"), "score_convention must be"),
        (dict(images=[]), "images is empty"),
    ],
)
def test_top_anomalies_bad_input(kwargs, match):
    args = dict(images=IMAGES, scores=SCORES)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plot_top_anomalies(args.pop("images"), args.pop("scores"), **args)


def test_clear_error_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "skanomaly\[plot\]"'):
        plot_anomaly_map(IMAGE, MAP)
    with pytest.raises(ImportError, match="needs matplotlib"):
        plot_top_anomalies(IMAGES, SCORES)


def test_importing_the_module_does_not_import_matplotlib():
    import subprocess

    code = (
        "import sys; import skanomaly.plotting; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
