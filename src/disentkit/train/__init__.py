"""Training: ``TrainConfig``, ``train(config, out_dir)`` and ``load_run(path)``."""

from disentkit.train.config import PRESETS, TrainConfig, apply_preset
from disentkit.train.loop import TrainingDiverged, train
from disentkit.train.runs import TrainedModel, load_run

__all__ = ["PRESETS", "TrainConfig", "TrainedModel", "TrainingDiverged", "apply_preset", "load_run", "train"]
