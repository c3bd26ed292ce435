"""Checkpoints: one safetensors file per checkpoint holding the weights, the Adam state and the step.

One file, written atomically (temporary file + rename), so a killed run never leaves a weight file
from one step next to optimiser state from another. Tensors are ``model.<name>`` and
``optim.<param index>.<key>``; the header metadata holds the format tag, the step, the loss that
ranked it, the optimiser's param groups and the model's identity (arch, latent size, channels;
not the method, which fine-tuning may change) used to refuse foreign checkpoints. An objective's companion network (FactorVAE's
discriminator) and its optimiser are stored alike under ``companion.model.`` / ``companion.optim.``,
which readers of the VAE alone never look at. The data stream and the sampling noise are functions
of (seed, step), so the step *is* the RNG state.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from disentkit.config import atomic_write_bytes
from disentkit.errors import DisentkitError

FORMAT = "disentkit-checkpoint-v1"


@dataclass
class Checkpoint:
    """A loaded checkpoint: weights, optimiser state (or None) and metadata."""

    model_state: dict[str, torch.Tensor]
    optimizer_state: dict | None
    meta: dict
    companion_state: dict[str, torch.Tensor] | None = None
    companion_optimizer_state: dict | None = None

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    identity: dict,
    extra: dict | None = None,
    companion=None,
) -> Path:
    """Write model + optimizer state (and a companion's: ``.module``, ``.optimizer``) atomically to
    ``path`` (a ``.safetensors`` file)."""
    tensors: dict[str, torch.Tensor] = {}
    groups = _pack(tensors, "", model, optimizer)
    meta = {"format": FORMAT, "step": step, "identity": identity, "param_groups": groups, **(extra or {})}
    if companion is not None:
        meta["companion_param_groups"] = _pack(tensors, "companion.", companion.module, companion.optimizer)
    payload = st_save(tensors, metadata={"disentkit": json.dumps(meta)})
    atomic_write_bytes(path, payload)
    return Path(path)


def _pack(tensors: dict, prefix: str, model, optimizer) -> list | None:
    """Add ``model``'s and ``optimizer``'s tensors under ``prefix``; returns the param groups."""
    for k, v in model.state_dict().items():
        tensors[f"{prefix}model.{k}"] = v.detach().cpu().contiguous()
    if optimizer is None:
        return None
    state = optimizer.state_dict()
    for idx, values in state["state"].items():
        for key, value in values.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{prefix}optim.{idx}.{key}"] = value.detach().cpu().contiguous()
    return state["param_groups"]


def _unpack(tensors: dict, prefix: str, groups: list | None) -> tuple[dict, dict | None]:
    """The model state and optimizer state (None without ``groups``) stored under ``prefix``."""
    head = f"{prefix}model."
    model_state = {k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)}
    if groups is None:
        return model_state, None
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith(f"{prefix}optim."):
            _, idx, name = key[len(prefix) :].split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    return model_state, {"state": state, "param_groups": groups}


def _read_meta(payload: bytes, path: Path) -> dict:
    try:
        (header_len,) = struct.unpack("<Q", payload[:8])
        header = json.loads(payload[8 : 8 + header_len])
        meta = json.loads(header["__metadata__"]["disentkit"])
    except (struct.error, ValueError, KeyError, TypeError):
        raise DisentkitError(
            f"{path} is not a disentkit checkpoint (corrupt or foreign file); retrain, or resume from "
            "another checkpoint (--from-checkpoint best or PATH)"
        ) from None
    if meta.get("format") != FORMAT:
        raise DisentkitError(f"{path}: unsupported checkpoint format {meta.get('format')!r}")
    return meta


def load_checkpoint(path: str | Path, identity: dict | None = None) -> Checkpoint:
    """Read a checkpoint; refuse corrupt files and (when ``identity`` is given) another model's."""
    path = Path(path)
    if not path.exists():
        raise DisentkitError(f"checkpoint not found: {path}")
    payload = path.read_bytes()
    meta = _read_meta(payload, path)
    if identity is not None and meta.get("identity") != identity:
        raise DisentkitError(
            f"{path} belongs to another model ({meta.get('identity')}), not {identity}; "
            "use a checkpoint of the same architecture, latent size and channels"
        )
    try:
        tensors = st_load(payload)
    except Exception as exc:  # safetensors raises its own error types on truncated data
        raise DisentkitError(
            f"{path} is corrupt ({exc}); resume from another checkpoint (--from-checkpoint best or PATH) "
            "or retrain"
        ) from None
    model_state, optimizer_state = _unpack(tensors, "", meta.get("param_groups"))
    checkpoint = Checkpoint(model_state, optimizer_state, meta)
    if "companion_param_groups" in meta:
        companion = _unpack(tensors, "companion.", meta["companion_param_groups"])
        checkpoint.companion_state, checkpoint.companion_optimizer_state = companion
    return checkpoint


#: optimizer options that choose an implementation (kernels, graph capture), not the arithmetic
IMPLEMENTATION_FLAGS = ("fused", "capturable", "foreach")


def restore(checkpoint: Checkpoint, model: torch.nn.Module, optimizer=None, companion=None) -> None:
    """Load weights (and optimiser state, and a companion's) into live objects; mismatches are a
    clear error."""
    try:
        _load(model, optimizer, checkpoint.model_state, checkpoint.optimizer_state)
        if companion is not None:
            if checkpoint.companion_state is None:
                raise DisentkitError(
                    "checkpoint has no companion network (a discriminator) to resume; start a new run"
                )
            _load(
                companion.module,
                companion.optimizer,
                checkpoint.companion_state,
                checkpoint.companion_optimizer_state,
            )
    except (RuntimeError, ValueError, KeyError) as exc:
        raise DisentkitError(f"checkpoint does not fit this model: {str(exc).splitlines()[0]}") from None


def _load(model, optimizer, model_state: dict, optimizer_state: dict | None) -> None:
    model.load_state_dict(model_state)
    if optimizer is not None and optimizer_state is not None:
        live = [{k: g[k] for k in IMPLEMENTATION_FLAGS if k in g} for g in optimizer.param_groups]
        optimizer.load_state_dict(optimizer_state)
        # How Adam runs belongs to this run's device, not the saved one's: a CPU checkpoint
        # resumed with CUDA graphs needs capturable=True, a GPU one on the CPU no fused kernel.
        for group, flags in zip(optimizer.param_groups, live, strict=True):
            group.update(flags)
