"""The deep-learning engine every deep detector shares, and its extension points.

A detector writes only what is its own (its network, its loss, its score)
and subclasses one of the engine's base classes, which owns everything
else once: validation and scaling of the input, seeding, devices, labels,
training (several networks and optimizers included), frozen pretrained
parts, chunked scoring, persistence, and the parameters of all of these,
documented once and added to each detector's signature and docstring.
The documentation's "Writing a detector" page walks through them.

* :class:`BaseGradientDetector`: a detector trained by gradient descent
  (one network and its loss, or its own ``train_step`` over several
  networks, each with its own optimizer);
* :class:`BaseDeepDetector`: the engine's core, for a detector whose fit
  is not gradient descent (features of a frozen network, then a memory
  bank or a Gaussian);
* :class:`DetectorNetwork`: the base of every detector's network;
* :class:`ImageInput`, :class:`SequenceInput`: mixins for detectors of
  images and of sequences (rows of features need none);
* :class:`PretrainedBackbone`: mixin for image detectors on a frozen,
  pretrained backbone (SqueezeNet 1.1 or any ``keras.applications``
  network), with :func:`build_backbone`, and :func:`upsample_maps` and
  :func:`blur_maps` to turn feature-map scores into anomaly maps
  (:class:`SmoothedMaps` declares the ``blur_sigma`` of those that smooth
  them);
* :func:`sum_over_replicas`, :func:`max_over_replicas`,
  :func:`once_for_all_replicas`: for a ``train_step`` that updates state
  by hand under ``tf.distribute``;
* :class:`~skanomaly.utils.Parameter`: declares a parameter shared by
  several detectors, once.

Keras 3 on the TensorFlow backend: detectors build their networks from
``keras.layers`` and ``keras.ops`` (import ``keras`` from here, which
checks the backend); TensorFlow-only code stays inside this package.
"""

from ..exceptions import TrainingDivergedError
from ._backbones import build_backbone
from ._backend import keras
from ._base import BaseDeepDetector
from ._devices import max_over_replicas, once_for_all_replicas, sum_over_replicas
from ._gradient import BaseGradientDetector
from ._inputs import ImageInput, SequenceInput
from ._network import DetectorNetwork
from ._pretrained import PretrainedBackbone, SmoothedMaps, blur_maps, upsample_maps

__all__ = [
    "BaseDeepDetector",
    "BaseGradientDetector",
    "DetectorNetwork",
    "ImageInput",
    "PretrainedBackbone",
    "SequenceInput",
    "SmoothedMaps",
    "TrainingDivergedError",
    "blur_maps",
    "build_backbone",
    "keras",
    "max_over_replicas",
    "once_for_all_replicas",
    "sum_over_replicas",
    "upsample_maps",
]
