"""The quickstart reuses a finished stage only when it was trained with the settings asked for."""

import dataclasses

import pytest

from disentkit.config import save_config
from disentkit.errors import DisentkitError
from disentkit.quickstart.job import _refuse_other_settings, source_config


def test_a_finished_source_is_reused_only_with_the_same_settings(tmp_path):
    asked = source_config(seed=0, device="cpu")
    # What train saves: the config with its CPU shard count fixed.
    save_config(dataclasses.replace(asked, cpu_shards=2), tmp_path / "config.yaml")
    _refuse_other_settings(tmp_path, asked)
    with pytest.raises(DisentkitError, match=r"bf16 False \(asked True\); use --fresh or another --out"):
        _refuse_other_settings(tmp_path, source_config(seed=0, device="cpu", bf16=True))
    with pytest.raises(DisentkitError, match="seed 0 \\(asked 1\\)"):
        _refuse_other_settings(tmp_path, source_config(seed=1, device="cpu"))
