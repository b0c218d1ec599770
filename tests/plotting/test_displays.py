import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from sklearn.base import BaseEstimator, OutlierMixin  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    PrecisionRecallDisplay,
    RocCurveDisplay,
    precision_recall_curve,
    roc_curve,
)
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.model_selection import cross_validate  # noqa: E402
from sklearn.neighbors import LocalOutlierFactor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skanomaly.metrics import (  # noqa: E402
    anomaly_average_precision_score,
    anomaly_roc_auc_score,
    anomaly_roc_auc_scorer,
)
from skanomaly.model_selection import NoveltySplit  # noqa: E402
from skanomaly.plotting import (  # noqa: E402
    AnomalyPrecisionRecallDisplay,
    AnomalyRocCurveDisplay,
    ScoreHistogramDisplay,
    TrainingHistoryDisplay,
)

rng = np.random.RandomState(0)
X_TRAIN = rng.normal(size=(150, 3))
# 60 normal, 8 anomalies, 20 unlabelled test samples
X_TEST = np.vstack([rng.normal(size=(60, 3)), rng.normal(3.0, 1.0, size=(8, 3)),
                    rng.normal(size=(20, 3))])
Y_TEST = np.r_[np.zeros(60, int), np.ones(8, int), np.full(20, -1)]
LABELLED = Y_TEST != -1
SCORES = rng.normal(size=88)
FOREST = IsolationForest(n_estimators=20, random_state=0).fit(X_TRAIN)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class LossLogger(OutlierMixin, BaseEstimator):
    """A stand-in for a detector with several networks: its fit logs one
    loss a network, and a validation loss, per epoch."""

    def fit(self, X, y=None):
        self.history_ = {
            "generator_loss": [3.0, 2.0, 1.5],
            "discriminator_loss": [0.7, 0.69, 0.68],
            "val_generator_loss": [3.5, 2.5, 2.0],
        }
        self.offset_ = 0.0
        return self

    def score_samples(self, X):
        return -np.abs(np.asarray(X)).sum(axis=1)


# ---------------------------------------------------------------- histogram
def _bar_heights(patches):
    return np.array([patch.get_height() for patch in patches])


def test_histogram_without_labels_or_threshold():
    display = ScoreHistogramDisplay.from_predictions(SCORES, bins=7)
    assert list(display.hist_) == ["all"]
    assert display.threshold_line_ is None
    assert display.ax_.get_legend() is None
    assert display.figure_ is display.ax_.figure
    assert display.bin_edges_.shape == (8,)
    assert display.ax_.get_xlabel() == "normality score (higher = more normal)"
    assert display.ax_.get_ylabel() == "samples"
    assert display.ax_.get_title() == ""


def test_histogram_groups_share_bins_and_count_each_label():
    display = ScoreHistogramDisplay.from_predictions(
        SCORES, Y_TEST, bins=6, hist_kwargs={"histtype": "bar"}
    )
    # unlabelled first, so that it is drawn behind the others
    assert list(display.hist_) == ["unlabelled", "normal", "anomaly"]
    edges = np.histogram_bin_edges(SCORES, bins=6)
    np.testing.assert_array_equal(display.bin_edges_, edges)
    for key, label in (("unlabelled", -1), ("normal", 0), ("anomaly", 1)):
        counts, _ = np.histogram(SCORES[Y_TEST == label], bins=edges)
        np.testing.assert_array_equal(_bar_heights(display.hist_[key]), counts)
    texts = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert texts == ["unlabelled (-1), n=20", "normal (0), n=60", "anomaly (1), n=8"]
    colours = {key: patches[0].get_facecolor()[:3] for key, patches in display.hist_.items()}
    assert colours["anomaly"] == to_rgba("tab:red")[:3]
    assert colours["unlabelled"] == to_rgba("tab:gray")[:3]


def test_histogram_absent_groups_left_out_and_booleans():
    display = ScoreHistogramDisplay.from_predictions(SCORES[:68], Y_TEST[:68].astype(bool))
    assert list(display.hist_) == ["normal", "anomaly"]


def test_histogram_density_gives_each_group_area_one():
    display = ScoreHistogramDisplay.from_predictions(
        SCORES[LABELLED], Y_TEST[LABELLED], density=True, hist_kwargs={"histtype": "bar"}
    )
    widths = np.diff(display.bin_edges_)
    for patches in display.hist_.values():
        assert np.sum(_bar_heights(patches) * widths) == pytest.approx(1.0)
    assert display.ax_.get_ylabel() == "density"


@pytest.mark.parametrize("convention, side, xlabel", [
    ("normality", "below", "normality score (higher = more normal)"),
    ("anomaly", "above", "anomaly score (higher = more anomalous)"),
])
def test_histogram_threshold_and_convention(convention, side, xlabel):
    display = ScoreHistogramDisplay.from_predictions(
        SCORES, threshold=np.float32(0.25), score_convention=convention, name="run 1"
    )
    line = display.threshold_line_
    assert line.get_xdata()[0] == 0.25
    assert line.get_label() == f"threshold = 0.25 ({side}: flagged)"
    assert line.get_linestyle() == "--"
    assert display.ax_.get_xlabel() == xlabel
    assert display.ax_.get_title() == "run 1"
    assert display.ax_.get_legend() is not None


def test_histogram_from_estimator_reads_offset():
    display = ScoreHistogramDisplay.from_estimator(FOREST, X_TEST, Y_TEST, bins=10)
    assert display.threshold_line_.get_xdata()[0] == FOREST.offset_
    np.testing.assert_array_equal(display.scores, FOREST.score_samples(X_TEST))
    assert display.ax_.get_title() == "IsolationForest"
    assert display.bin_edges_.shape == (11,)
    # a Pipeline: scores of the whole pipeline, threshold of its last step
    pipe = make_pipeline(StandardScaler(), IsolationForest(n_estimators=10, random_state=0))
    pipe.fit(X_TRAIN)
    display = ScoreHistogramDisplay.from_estimator(pipe, X_TEST, name="scaled")
    assert display.threshold_line_.get_xdata()[0] == pipe[-1].offset_
    np.testing.assert_array_equal(display.scores, pipe.score_samples(X_TEST))
    assert display.ax_.get_title() == "scaled"


def test_histogram_plot_again_on_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    display = ScoreHistogramDisplay.from_predictions(SCORES, Y_TEST, ax=left)
    assert display.ax_ is left
    display.plot(ax=right, bins=4, threshold_kwargs={"color": "green"})
    assert display.ax_ is right and display.figure_ is fig
    assert len(display.bin_edges_) == 5
    assert len(right.patches) > 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(y=Y_TEST[:10]), ValueError, "y has 10 labels but there are 88 scores"),
        (dict(scores=np.r_[SCORES[:-1], np.nan]), ValueError, "NaN or infinity"),
        (dict(scores=SCORES[:, None].repeat(2, axis=1)), ValueError, "1-D array"),
        (dict(scores=SCORES.astype(str)), TypeError, "scores must hold real numbers"),
        (dict(y=np.where(Y_TEST == 1, 2, Y_TEST)), ValueError, r"1 \(anomaly\), 0 \(normal\) or -1"),
        (dict(y=np.full(88, "a")), ValueError, "y must hold"),
        (dict(threshold=np.nan), ValueError, "threshold must be a finite number"),
        (dict(threshold="0.5"), ValueError, "threshold must be a finite number"),
        (dict(score_convention="anomalous"), ValueError, "score_convention must be"),
        (dict(bins="sometimes"), ValueError, "bins='sometimes'"),
    ],
)
def test_histogram_bad_input(kwargs, error, match):
    kwargs = {"scores": SCORES, **kwargs}
    with pytest.raises(error, match=match):
        ScoreHistogramDisplay.from_predictions(**kwargs)


def test_histogram_from_estimator_errors():
    with pytest.raises(ValueError, match="y has 5 labels but X has 88 samples"):
        ScoreHistogramDisplay.from_estimator(FOREST, X_TEST, Y_TEST[:5])
    with pytest.raises(NotFittedError):
        ScoreHistogramDisplay.from_estimator(IsolationForest(), X_TEST)
    # LOF without novelty has no score_samples
    lof = LocalOutlierFactor().fit(X_TRAIN)
    with pytest.raises(TypeError, match="LocalOutlierFactor has none"):
        ScoreHistogramDisplay.from_estimator(lof, X_TEST)
    # a density model scores samples but has no threshold
    gmm = GaussianMixture(random_state=0).fit(X_TRAIN)
    with pytest.raises(TypeError, match="GaussianMixture has no offset_"):
        ScoreHistogramDisplay.from_estimator(gmm, X_TEST)
    nan_scores = LossLogger().fit(X_TRAIN)
    with pytest.raises(ValueError, match="NaN"):
        ScoreHistogramDisplay.from_estimator(nan_scores, np.full((3, 3), np.nan))


# ----------------------------------------------------------- training history
HISTORY = {"loss": [1.0, 0.5, 0.4, 0.35], "val_loss": [1.2, 0.6, 0.5, 0.5]}


def test_history_lines_epochs_and_pairing():
    display = TrainingHistoryDisplay(history=HISTORY).plot()
    assert list(display.lines_) == ["loss", "val_loss"]
    loss, val = display.lines_["loss"], display.lines_["val_loss"]
    np.testing.assert_array_equal(loss.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(val.get_ydata(), HISTORY["val_loss"])
    assert loss.get_color() == val.get_color()
    assert (loss.get_linestyle(), val.get_linestyle()) == ("-", "--")
    assert display.ax_.get_xlabel() == "epoch"
    assert display.ax_.get_ylabel() == "loss"
    assert display.ax_.get_yscale() == "linear"
    assert [t.get_text() for t in display.ax_.get_legend().get_texts()] == ["loss", "val_loss"]


def test_history_several_networks_and_keys():
    detector = LossLogger().fit(X_TRAIN)
    display = TrainingHistoryDisplay.from_estimator(detector, log_scale=True)
    lines = display.lines_
    assert set(lines) == set(detector.history_)
    assert lines["val_generator_loss"].get_color() == lines["generator_loss"].get_color()
    assert lines["discriminator_loss"].get_color() != lines["generator_loss"].get_color()
    assert lines["val_generator_loss"].get_linestyle() == "--"
    assert lines["discriminator_loss"].get_linestyle() == "-"
    assert display.ax_.get_yscale() == "log"
    assert display.ax_.get_title() == "LossLogger"
    # a subset, in the order given; a val_ series alone has its own colour
    display = TrainingHistoryDisplay.from_estimator(
        detector, keys=["discriminator_loss", "val_generator_loss"], name="GAN"
    )
    assert list(display.lines_) == ["discriminator_loss", "val_generator_loss"]
    assert display.lines_["val_generator_loss"].get_linestyle() == "-"
    assert display.ax_.get_title() == "GAN"
    # a Pipeline ending in the detector
    pipe = make_pipeline(StandardScaler(), LossLogger()).fit(X_TRAIN)
    assert set(TrainingHistoryDisplay.from_estimator(pipe).lines_) == set(detector.history_)


def test_history_single_epoch_and_other_series():
    display = TrainingHistoryDisplay(history={"loss": [0.5], "resets": [2]}).plot(
        line_kwargs={"linewidth": 3}
    )
    assert display.lines_["loss"].get_marker() == "o"
    assert display.lines_["loss"].get_linewidth() == 3
    assert display.ax_.get_ylabel() == "value logged per epoch"


def test_history_of_a_deep_detector():
    from skanomaly import AutoEncoder

    with pytest.raises(NotFittedError, match="AutoEncoder is not fitted"):
        TrainingHistoryDisplay.from_estimator(AutoEncoder(epochs=2))
    detector = AutoEncoder(epochs=2, random_state=0).fit(X_TRAIN)
    display = TrainingHistoryDisplay.from_estimator(detector)
    assert set(display.lines_) == set(detector.history_) == {"loss", "val_loss"}
    np.testing.assert_allclose(display.lines_["loss"].get_ydata(), detector.history_["loss"])


def test_history_errors():
    with pytest.raises(TypeError, match="IsolationForest keeps no training history"):
        TrainingHistoryDisplay.from_estimator(FOREST)
    with pytest.raises(NotFittedError, match="IsolationForest is not fitted"):
        TrainingHistoryDisplay.from_estimator(IsolationForest())
    with pytest.raises(TypeError, match=r"TrainingHistoryDisplay\(history=...\)"):
        TrainingHistoryDisplay.from_estimator(HISTORY)
    cases = [
        ({}, {}, ValueError, "history is empty"),
        ([1.0, 0.5], {}, TypeError, "history must be a dict"),
        (HISTORY, dict(keys=["loss", "gan_loss"]), ValueError, r"keys \['gan_loss'\] are not in"),
        (HISTORY, dict(keys=[]), ValueError, "keys is empty"),
        ({"loss": []}, {}, ValueError, r"history\['loss'\] must be a non-empty"),
        ({"loss": ["a", "b"]}, {}, TypeError, "must hold numbers"),
        ({"loss": [0.5, -0.1]}, dict(log_scale=True), ValueError, "log_scale needs positive"),
    ]
    for history, kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            TrainingHistoryDisplay(history=history).plot(**kwargs)


# ------------------------------------------------------------------- curves
Y = Y_TEST[LABELLED]
NORMALITY = FOREST.score_samples(X_TEST[LABELLED])


def test_curve_displays_are_sklearn_displays():
    assert issubclass(AnomalyRocCurveDisplay, RocCurveDisplay)
    assert issubclass(AnomalyPrecisionRecallDisplay, PrecisionRecallDisplay)
    # scikit-learn's refuses an outlier detector; ours takes it
    with pytest.raises(ValueError):
        RocCurveDisplay.from_estimator(FOREST, X_TEST[LABELLED], Y)
    display = AnomalyRocCurveDisplay.from_estimator(FOREST, X_TEST[LABELLED], Y)
    assert isinstance(display, RocCurveDisplay)


def test_roc_from_predictions_matches_metrics():
    display = AnomalyRocCurveDisplay.from_predictions(Y, NORMALITY, plot_chance_level=True)
    fpr, tpr, _ = roc_curve(Y, -NORMALITY, drop_intermediate=True)
    np.testing.assert_array_equal(display.fpr, fpr)
    np.testing.assert_array_equal(display.tpr, tpr)
    assert display.roc_auc == pytest.approx(anomaly_roc_auc_score(Y, NORMALITY))
    assert display.roc_auc > 0.9  # the anomalies are shifted by 3 on every feature
    assert display.pos_label == 1
    assert display.line_.get_label().startswith("Detector (AUC = ")
    assert display.chance_level_ is not None
    assert display.ax_.get_xlabel() == "False positive rate (normal samples flagged)"
    assert display.ax_.get_ylabel() == "True positive rate (anomalies flagged)"
    # the same curve from anomaly scores
    flipped = AnomalyRocCurveDisplay.from_predictions(Y, -NORMALITY, score_convention="anomaly")
    np.testing.assert_array_equal(flipped.tpr, display.tpr)


def test_pr_from_predictions_matches_metrics():
    display = AnomalyPrecisionRecallDisplay.from_predictions(
        Y, NORMALITY, name="forest", plot_chance_level=True
    )
    precision, recall, _ = precision_recall_curve(Y, -NORMALITY)
    np.testing.assert_array_equal(display.precision, precision)
    np.testing.assert_array_equal(display.recall, recall)
    assert display.average_precision == pytest.approx(
        anomaly_average_precision_score(Y, NORMALITY)
    )
    assert display.prevalence_pos_label == pytest.approx(8 / 68)
    assert display.line_.get_label().startswith("forest (AP = ")
    assert display.ax_.get_xlabel() == "Recall (anomalies flagged)"
    assert display.ax_.get_ylabel() == "Precision (anomalies among flagged)"
    flipped = AnomalyPrecisionRecallDisplay.from_predictions(
        Y, -NORMALITY, score_convention="anomaly"
    )
    np.testing.assert_array_equal(flipped.precision, display.precision)


@pytest.mark.parametrize("klass", [AnomalyRocCurveDisplay, AnomalyPrecisionRecallDisplay])
def test_curve_from_estimator_and_pipeline(klass):
    display = klass.from_estimator(FOREST, X_TEST[LABELLED], Y)
    expected = klass.from_predictions(Y, NORMALITY)
    np.testing.assert_array_equal(display.line_.get_xydata(), expected.line_.get_xydata())
    assert display.name == "IsolationForest"
    pipe = make_pipeline(StandardScaler(), IsolationForest(n_estimators=10, random_state=0))
    pipe.fit(X_TRAIN)
    display = klass.from_estimator(pipe, X_TEST[LABELLED], Y)
    assert display.name == "IsolationForest"
    # plot again, elsewhere; the labels stay skanomaly's
    _, ax = plt.subplots()
    display.plot(ax=ax, name="again")
    assert display.ax_ is ax and "again" in display.line_.get_label()
    assert "anomalies flagged" in ax.get_xlabel() + ax.get_ylabel()


@pytest.mark.parametrize("klass", [AnomalyRocCurveDisplay, AnomalyPrecisionRecallDisplay])
def test_curve_from_cv_results(klass):
    X = np.vstack([X_TRAIN[:60], X_TEST[60:68]])
    y = np.r_[np.zeros(60, int), np.ones(8, int)]
    cv = NoveltySplit(n_splits=3, random_state=0)
    results = cross_validate(
        IsolationForest(n_estimators=10, random_state=0), X, y, cv=cv,
        scoring=anomaly_roc_auc_scorer, return_estimator=True, return_indices=True,
    )
    display = klass.from_cv_results(results, X, y, curve_kwargs=[{}, {}, {}], name="fold")
    assert len(display.line_) == 3
    for i, (detector, test) in enumerate(zip(results["estimator"], results["indices"]["test"])):
        normality = detector.score_samples(X[test])
        if klass is AnomalyRocCurveDisplay:
            assert display.roc_auc[i] == pytest.approx(anomaly_roc_auc_score(y[test], normality))
            assert display.roc_auc[i] == pytest.approx(results["test_score"][i])
        else:
            assert display.average_precision[i] == pytest.approx(
                anomaly_average_precision_score(y[test], normality)
            )
    with pytest.raises(ValueError, match="cv_results must be the dict"):
        klass.from_cv_results({"estimator": results["estimator"]}, X, y)
    with pytest.raises(ValueError, match="Test fold 0: .*labelled -1"):
        klass.from_cv_results(results, X, np.r_[np.full(60, -1), np.ones(8, int)])


@pytest.mark.parametrize("klass", [AnomalyRocCurveDisplay, AnomalyPrecisionRecallDisplay])
@pytest.mark.parametrize(
    "y, scores, kwargs, match",
    [
        (Y_TEST, SCORES, {}, "holds 20 sample\\(s\\) labelled -1, skanomaly's mark of an unlabelled"),
        (np.where(Y == 0, -1, 1), NORMALITY, {}, "labelled -1"),
        (np.where(Y == 1, 2, 0), NORMALITY, {}, "must encode anomalies as 1"),
        (Y, NORMALITY[:10], {}, "different lengths"),
        (Y, np.r_[NORMALITY[:-1], np.nan], {}, "NaN or infinity"),
        (Y, NORMALITY, dict(score_convention="pyod"), "score_convention must be"),
        (np.zeros(68, int), NORMALITY, {}, "anomal"),
    ],
)
def test_curve_bad_predictions(klass, y, scores, kwargs, match):
    with pytest.raises(ValueError, match=match):
        klass.from_predictions(y, scores, **kwargs)


def test_roc_needs_normal_samples_too():
    with pytest.raises(ValueError, match="holds only anomalies"):
        AnomalyRocCurveDisplay.from_predictions(np.ones(5, int), np.arange(5.0))
    # precision-recall is defined with anomalies only
    AnomalyPrecisionRecallDisplay.from_predictions(np.ones(5, int), np.arange(5.0))


@pytest.mark.parametrize("klass", [AnomalyRocCurveDisplay, AnomalyPrecisionRecallDisplay])
def test_curve_from_estimator_errors(klass):
    with pytest.raises(ValueError, match="y has 5 labels but X has 68 samples"):
        klass.from_estimator(FOREST, X_TEST[LABELLED], Y[:5])
    with pytest.raises(NotFittedError):
        klass.from_estimator(IsolationForest(), X_TEST[LABELLED], Y)
    with pytest.raises(TypeError, match="score_samples"):
        klass.from_estimator(LocalOutlierFactor().fit(X_TRAIN), X_TEST[LABELLED], Y)
    with pytest.raises(ValueError, match="unlabelled"):
        klass.from_estimator(FOREST, X_TEST, Y_TEST)
    with pytest.raises(ValueError, match="NaN"):
        klass.from_estimator(LossLogger().fit(X_TRAIN), np.full((4, 3), np.nan), [0, 0, 1, 1])


def test_curve_displays_built_by_hand():
    roc = AnomalyRocCurveDisplay(fpr=np.array([0, 0.5, 1]), tpr=np.array([0, 1, 1]),
                                 roc_auc=0.75, name="by hand").plot()
    assert roc.line_.get_label() == "by hand (AUC = 0.75)"
    assert roc.ax_.get_xlabel() == "False positive rate (normal samples flagged)"
    pr = AnomalyPrecisionRecallDisplay(precision=np.array([0.5, 1.0]),
                                       recall=np.array([1.0, 0.0]),
                                       prevalence_pos_label=0.5).plot(plot_chance_level=True)
    assert pr.chance_level_.get_ydata()[0] == 0.5
    assert pr.ax_.get_ylabel() == "Precision (anomalies among flagged)"
