"""Detectors in the feature space of a pretrained network: a frozen
backbone turns images into features, and a sample is scored by how far its
features fall from those of normal images (a memory bank, per-position
Gaussians, students that imitate the backbone, a decoder that reverses it,
or a head trained on top of it)."""

from ._padim import PaDiM
from ._patchcore import PatchCore
from ._reverse_distillation import ReverseDistillation
from ._student_teacher import StudentTeacher
from ._transfer_head import TransferHead

__all__ = ["PaDiM", "PatchCore", "ReverseDistillation", "StudentTeacher", "TransferHead"]
