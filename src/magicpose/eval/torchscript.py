"""Telling a TorchScript archive from a plain ``torch.save`` file, for the metric networks' loaders."""

from __future__ import annotations

import zipfile
from pathlib import Path


def is_torchscript(path: Path) -> bool:
    """TorchScript archives hold a ``constants.pkl``; plain ``torch.save`` files do not."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in archive.namelist())
    except zipfile.BadZipFile:
        return False
