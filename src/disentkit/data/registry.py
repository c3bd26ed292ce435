"""Name → dataset: the built-in datasets as one lazy table, plus the ones users register.

A built-in's module is imported when its name is first asked for, so listing the names imports no
dataset code (and no torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from disentkit._lazy import LazyTable
from disentkit.data.protocols import ImageSource, require_source

if TYPE_CHECKING:
    from disentkit.data.base import GroundTruthDataset

#: name → "module:factory" of the built-in datasets; a factory takes the dataset's keyword options
BUILTIN_DATASETS = {
    "cars3d-file": "disentkit.data.study_files:cars3d_file",
    "coil100": "disentkit.data.coil:coil100",
    "coil100-augmented": "disentkit.data.coil:coil100_augmented",
    "coil100-augmented-binary": "disentkit.data.coil:coil100_augmented_binary",
    "color-dsprites": "disentkit.data.dsprites:color_dsprites",
    "dsprites": "disentkit.data.dsprites:dsprites",
    "dsprites-file": "disentkit.data.files:dsprites_file",
    "fashion-mnist": "disentkit.data.fashion_mnist:fashion_mnist",
    "mpi3d-file": "disentkit.data.files:mpi3d_file",
    "noisy-color-dsprites": "disentkit.data.dsprites:noisy_color_dsprites",
    "noisy-dsprites": "disentkit.data.dsprites:noisy_dsprites",
    "realphoto": "disentkit.data.realphoto:realphoto",
    "realphoto-binary": "disentkit.data.realphoto:realphoto_binary",
    "rgbd-objects": "disentkit.data.rgbd:rgbd_objects",
    "rgbd-objects-depth": "disentkit.data.rgbd:rgbd_objects_depth",
    "shapes3d": "disentkit.data.shapes3d:shapes3d",
    "shapes3d-file": "disentkit.data.files:shapes3d_file",
    "smallnorb-file": "disentkit.data.study_files:smallnorb_file",
}


def dataset_key(name: str) -> str:
    """The table's spelling of a dataset name: lower case, dashes (``Color_dSprites`` → ``color-dsprites``)."""
    return name.lower().replace("_", "-")


_DATASETS = LazyTable("dataset", BUILTIN_DATASETS, key=dataset_key)


def register(name: str) -> Callable:
    """Decorator: ``@register("my-data")`` on a class or factory of your own taking keyword options."""
    return _DATASETS.register(name)


def list_datasets() -> list[str]:
    return _DATASETS.names()


def get_dataset(name: str, **options) -> GroundTruthDataset:
    """Build a dataset by name; unknown names list the valid ones."""
    dataset = _DATASETS.get(name)(**options)
    return require_source(dataset, ImageSource, f"dataset {name!r}")
