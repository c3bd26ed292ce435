"""Imports every module that registers a built-in dataset (filled in by the dataset modules)."""

import disentkit.data.coil  # noqa: F401,E402
import disentkit.data.dsprites  # noqa: F401,E402
import disentkit.data.fashion_mnist  # noqa: F401,E402
import disentkit.data.files  # noqa: F401,E402
import disentkit.data.realphoto  # noqa: F401,E402
import disentkit.data.rgbd  # noqa: F401,E402
import disentkit.data.shapes3d  # noqa: F401,E402
import disentkit.data.study_files  # noqa: F401,E402
