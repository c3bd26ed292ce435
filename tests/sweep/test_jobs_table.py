"""The job kinds' lazy table: listing kinds imports none of them; users' kinds join the table."""

import json
import subprocess
import sys

import pytest

from disentkit.errors import DisentkitError
from disentkit.sweep import jobs


def test_kinds_are_listed_without_importing_them():
    code = (
        "import json, sys\n"
        "from disentkit.sweep.jobs import get_job_fn, job_module, list_job_kinds\n"
        "kinds, module = list_job_kinds(), job_module('train')\n"
        "before = 'disentkit.sweep.kinds' in sys.modules\n"
        "fn = get_job_fn('train')\n"
        "print(json.dumps([kinds, module, before, fn.__module__, fn.__name__]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    kinds, module, before, fn_module, fn_name = json.loads(out)
    assert kinds == ["evaluate", "sleep", "toy", "train", "transfer"]
    assert module == "disentkit.sweep.kinds" and not before
    assert (fn_module, fn_name) == ("disentkit.sweep.kinds", "train_job")


def test_users_kinds_join_the_table(monkeypatch):
    monkeypatch.setattr(jobs._JOBS, "registered", {})

    @jobs.register_job("mine")
    def mine(config, job_dir):
        return {}

    assert "mine" in jobs.list_job_kinds() and jobs.get_job_fn("mine") is mine
    assert jobs.job_module("mine") == __name__
    with pytest.raises(DisentkitError, match="unknown job kind 'nope'; valid job kinds: evaluate, mine"):
        jobs.get_job_fn("nope")
