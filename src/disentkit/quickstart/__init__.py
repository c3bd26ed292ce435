"""The main job (``disentkit quickstart``, ``make demo``): a weakly supervised source trained on
dSprites, evaluated, transferred to Noisy-dSprites and to real photographs, the paper's findings
judged on the numbers and one self-contained report."""

from disentkit._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {"job": "run_quickstart"})
