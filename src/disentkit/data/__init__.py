"""Ground-truth datasets (procedural and official files), samplers and loaders."""

from disentkit._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "base": "GroundTruthDataset PairBatch",
        "protocols": "DeviceRenderedSource GroundTruthSource ImageSource PairSource require_source",
        "registry": "get_dataset list_datasets register",
        "views": "SourceView",
    },
)
