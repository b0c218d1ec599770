"""Exceptions raised by skanomaly."""

__all__ = ["TrainingDivergedError"]


class TrainingDivergedError(RuntimeError):
    """The training loss of a deep detector became NaN or infinite.

    Raised by ``fit`` instead of leaving a model that scores NaN. With
    ``warm_start=True`` the weights from before the failed fit are kept.
    """
