"""Checking a metric network's weight file against the network before a strict load, so that a wrong file
is one error line naming what does not fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from magicpose.errors import InputError, first_line


def _summary(names: Sequence[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def read_weights(path: Path, metric: str, what: str):
    """``torch.load`` a local weight file (tensors only); a missing or unreadable one raises one line
    naming ``metric``'s weights and ``what`` was expected."""
    if not path.is_file():
        raise InputError(f"{metric} weights not found: {path}; expected {what}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise InputError(f"cannot read {path} ({first_line(err)}): expected {what}") from err


def fill_batchnorm_counters(expected: Mapping[str, Tensor], state: dict) -> None:
    """Add the BatchNorm ``num_batches_tracked`` counters that files saved before PyTorch 0.4 lack (unused
    in eval mode) to ``state``."""
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.tensor(0)


def state_dict_problems(expected: Mapping[str, Tensor], state: Mapping) -> list[str]:
    """Why ``state`` would not load strictly into a model whose state dict is ``expected``: its missing,
    unexpected and wrong-shape keys (the first three of each named); empty when it would load."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} (want {tuple(v.shape)})"
        for k, v in expected.items()
        if isinstance(state.get(k), Tensor) and state[k].shape != v.shape
    ]
    return [
        f"{label} {_summary(names)}"
        for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape))
        if names
    ]
