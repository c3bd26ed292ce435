"""Training: ``TrainConfig``, ``train(config, out_dir)`` and ``load_run(path)``."""

from disentkit._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "config": "PRESETS TrainConfig apply_preset",
        "loop": "TrainingDiverged train",
        "runs": "TrainedModel load_run",
    },
)
