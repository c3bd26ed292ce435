"""Ground-truth datasets (procedural and official files), samplers and loaders."""

from disentkit.data.base import GroundTruthDataset, PairBatch
from disentkit.data.registry import get_dataset, list_datasets, register

__all__ = ["GroundTruthDataset", "PairBatch", "get_dataset", "list_datasets", "register"]
