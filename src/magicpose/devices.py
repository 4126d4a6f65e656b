"""The ``--device`` flag of every command, checked before any work."""

from __future__ import annotations

from magicpose.errors import InputError


def check_device(name: str | None, flag: str = "--device") -> str:
    """``name`` if this machine has that torch device (None: cuda when present, else cpu); else one line naming it."""
    import torch

    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"{flag} '{name}' is not a device: use cpu, cuda, cuda:N or mps") from None
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device.type == "cuda" and gpus == 0:
        raise InputError(
            f"{flag} {name}: this machine has no CUDA GPU that PyTorch can use (torch "
            f"{torch.__version__}): use {flag} cpu"
        )
    if device.type == "cuda" and device.index is not None and device.index >= gpus:
        raise InputError(f"{flag} {name}: this machine has {gpus} CUDA GPU(s), cuda:0 to cuda:{gpus - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{flag} {name}: MPS is not available on this machine: use {flag} cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"{flag} '{name}' is not supported: use cpu, cuda, cuda:N or mps")
    return name
