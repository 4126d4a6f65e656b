"""AED, the average embedding distance of MRAA's evaluation (ref-mraa-and-peers.md §A.7): how far a generated
frame's person drifts from the true frame's person, as an identity embedder sees them.

The embedder comes from a local TorchScript file (``--identity-embedder``; for bodies, a person
re-identification network such as Person_reID_baseline's ResNet-50 traced to TorchScript) and is called on
frames resized to 256 x 128 (height x width, re-ID's input) with ImageNet normalisation, returning one
vector per frame. Per frame pair the score is Σ(Δ²), the squared L2 distance, because the original's
``cmp.py`` computes that despite the name; AED is its mean over frames.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

REID_SIZE = (128, 256)  # (width, height) of a re-ID network's input
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def identity_input(frame: np.ndarray) -> np.ndarray:
    """A uint8 RGB frame as the embedder reads it: (3, 256, 128) float32, ImageNet-normalised."""
    resized = cv2.resize(frame, REID_SIZE, interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    return ((resized - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)


@torch.no_grad()
def embedding_distance(
    embed: Callable[[torch.Tensor], torch.Tensor], gen: np.ndarray, gt: np.ndarray, device="cpu"
) -> float:
    """Σ(Δ²) between the embeddings of a generated frame and its ground truth."""
    batch = torch.from_numpy(np.stack([identity_input(gen), identity_input(gt)])).to(device)
    vectors = embed(batch).reshape(2, -1).double()
    return float(((vectors[0] - vectors[1]) ** 2).sum())
