"""Choosing the defaults of the unsupervised detectors of rows on part of ADBench.

    python benchmarks/tabular_select.py

Protocol: that of ``benchmarks/tabular.py`` (splits, metrics), on the
selection part of ``benchmarks/semi_supervised_select.py`` only: seed 0
and the 8 of the 33 data sets drawn with
``numpy.random.RandomState(0).permutation`` over their sorted names
(celeba, cover, glass, Hepatitis, mammography, mnist, optdigits, WPBC).
A default chosen here is then reported on all 33 data sets and 3 seeds by
``benchmarks/tabular.py``.

Candidates (``random_state=0``, no progress output, others at their
defaults): ``GradCon`` trained on the plain mean of the batch's
reconstruction losses (``trim_fraction=0``) and on their trimmed mean
(``trim_fraction=0.1``, the ``AutoEncoder``'s default).

Output: ``benchmarks/results/tabular_select.md`` (and its rows CSV and
figure), with this command.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol  # noqa: E402
import semi_supervised_select  # noqa: E402
import tabular  # noqa: E402


def _gradcon(**params):
    def make(seed, n_features):
        from skanomaly import GradCon

        return GradCon(random_state=seed, verbose=0, **params)

    return make


def candidates():
    return [
        _protocol.Detector(
            f"skanomaly.GradCon[trim{trim:g}]", "skanomaly", _gradcon(trim_fraction=trim),
            "normality",
        )
        for trim in (0.0, 0.1)
    ]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    _protocol.run(
        script="benchmarks/tabular_select.py",
        stem="tabular_select",
        title="Unsupervised defaults for rows, chosen on 8 ADBench data sets (seed 0)",
        doc=__doc__,
        default_data=tabular.DEFAULT_DATA,
        pattern="*.npz",
        prefix=r"\d+_",
        what="ADBench",
        argv=["--datasets", *semi_supervised_select.selection_names(), "--seeds", "0", *argv],
        detectors=candidates(),
    )


if __name__ == "__main__":
    main()
