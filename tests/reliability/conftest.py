"""Fault injection: run the real CLI in its own process group, SIGKILL it at random moments, and
run it again the way a user would, until one attempt finishes by itself."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import zlib

import pytest
import torch

#: kills per scenario before the attempt that may finish; each attempt restarts Python and torch
KILLS = 2


def disentkit_process(args: list, env_threads: int) -> subprocess.Popen:
    """``disentkit ARGS`` in a new session (its workers included), at this process's thread count
    so that its CPU numbers can equal an in-process reference run's."""
    env = {**os.environ, "OMP_NUM_THREADS": str(env_threads)}
    return subprocess.Popen(
        [sys.executable, "-m", "disentkit.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


class Killer:
    """Runs attempts of a command; every attempt but the last is SIGKILLed (with all its children)
    after a random delay in [low, high] seconds, unless it finished first."""

    def __init__(self, seed: int, low: float, high: float):
        self.rng = random.Random(seed)
        self.low, self.high = low, high
        self.log: list[str] = []  # what happened, for the assertion messages

    def run(self, next_args, kills: int = KILLS, timeout: float = 300) -> subprocess.CompletedProcess:
        threads = torch.get_num_threads()
        for attempt in range(kills + 1):
            args = next_args()
            proc = disentkit_process(args, threads)
            if attempt < kills:
                delay = self.rng.uniform(self.low, self.high)
                try:
                    out, err = proc.communicate(timeout=delay)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
                    _wait_group_gone(proc.pid)
                    self.log.append(f"{args[:2]} killed after {delay:.2f}s")
                    continue
                self.log.append(f"{args[:2]} finished before its kill at {delay:.2f}s")
            else:
                out, err = proc.communicate(timeout=timeout)
                self.log.append(f"{args[:2]} ran to the end")
            assert proc.returncode == 0, f"{self.log}: {err[-2000:]}"
            return subprocess.CompletedProcess(args, proc.returncode, out, err)
        raise AssertionError("unreachable")  # pragma: no cover


def _wait_group_gone(pgid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {pgid} still alive after SIGKILL")


@pytest.fixture(scope="session")
def start_seconds() -> float:
    """How long a fresh process takes to import what the commands need, measured once on this
    machine now: kill moments are spread over start-up and work alike, however loaded it is."""
    started = time.monotonic()
    code = "import torch, disentkit.cli; from torch.utils.tensorboard import SummaryWriter"
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.monotonic() - started


@pytest.fixture
def killer(request, start_seconds):
    """``killer(work_seconds)``: a Killer whose kill moments fall anywhere in start-up plus that
    much work; seeded from $DISENTKIT_FAULT_SEED, else the test's name (reproducible delays)."""
    seed = os.environ.get("DISENTKIT_FAULT_SEED") or zlib.crc32(request.node.name.encode())
    return lambda work: Killer(int(seed), 0.2, start_seconds + work)
