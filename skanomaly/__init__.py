"""skanomaly: anomaly detectors that are true scikit-learn estimators.

Deep detectors built with Keras 3 (autoencoders, variational autoencoders,
Deep SVDD, LSTM and CNN-LSTM autoencoders and a forecaster for sequences,
convolutional and memory-augmented autoencoders with per-pixel anomaly maps
for images) sit beside classical baselines (HOG features + One-Class SVM), all
keeping scikit-learn's outlier contract: ``score_samples`` is higher for more
normal samples, ``decision_function`` is negative for outliers and
``predict`` returns ``+1`` for inliers and ``-1`` for outliers.

The detectors are imported lazily, so that ``skanomaly.metrics`` or
``skanomaly.model_selection`` can be used without starting TensorFlow.
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "AutoEncoder": "skanomaly.reconstruction",
    "VAE": "skanomaly.reconstruction",
    "ConvAutoEncoder": "skanomaly.reconstruction",
    "MemAE": "skanomaly.reconstruction",
    "MNAD": "skanomaly.reconstruction",
    "LSTMAutoEncoder": "skanomaly.reconstruction",
    "CNNLSTMAutoEncoder": "skanomaly.reconstruction",
    "DeepSVDD": "skanomaly.one_class",
    "DeepSAD": "skanomaly.supervised",
    "PatchSVDD": "skanomaly.one_class",
    "PaDiM": "skanomaly.feature_space",
    "PatchCore": "skanomaly.feature_space",
    "ReverseDistillation": "skanomaly.feature_space",
    "StudentTeacher": "skanomaly.feature_space",
    "TransferHead": "skanomaly.feature_space",
    "DevNet": "skanomaly.supervised",
    "MAMLDetector": "skanomaly.supervised",
    "PrototypicalDetector": "skanomaly.supervised",
    "ScoreBoostingDetector": "skanomaly.supervised",
    "GANomaly": "skanomaly.adversarial",
    "OGNet": "skanomaly.adversarial",
    "SynthesizeCompare": "skanomaly.adversarial",
    "GradCon": "skanomaly.dynamics",
    "ConvGradCon": "skanomaly.dynamics",
    "LossProfileDetector": "skanomaly.dynamics",
    "ConvLossProfileDetector": "skanomaly.dynamics",
    "RNNForecaster": "skanomaly.prediction",
    "KerasDetector": "skanomaly.custom",
    "HOGTransformer": "skanomaly.features",
    "SlidingWindows": "skanomaly.features",
    "PretrainedFeatures": "skanomaly.features",
    "make_hog_ocsvm": "skanomaly.features",
    "load": "skanomaly.utils",
    "save": "skanomaly.utils",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skanomaly' has no attribute {name!r}")


def __dir__():
    return __all__
