"""Shared test helpers (pytest puts tests/ on sys.path, so test files import them from here)."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPTextConfig, CLIPTextModel


def make_square_dataset(root: Path, videos: int = 3, frames: int = 6, size: int = 40) -> Path:
    """Each video: its own background colour and a square of its own colour moving; the pose map is the
    square on black. Learnable: the target's colours come from the reference, its layout from the pose."""
    rng = np.random.RandomState(0)
    for v in range(videos):
        bg, fg = rng.randint(0, 256, 3), rng.randint(0, 256, 3)
        for split in ("train_set", "pose_map_train_set"):
            (root / split / f"vid{v}").mkdir(parents=True)
        for f in range(frames):
            x = 4 + 3 * f
            frame = np.empty((size, size, 3), np.uint8)
            frame[:] = bg
            frame[12:28, x:x + 12] = fg
            pose = np.zeros_like(frame)
            pose[12:28, x:x + 12] = 255
            Image.fromarray(frame).save(root / "train_set" / f"vid{v}" / f"{f:04d}.png")
            Image.fromarray(pose).save(root / "pose_map_train_set" / f"vid{v}" / f"{f:04d}.png")
    return root


def clip_vocab_text_encoder() -> CLIPTextModel:
    """A tiny text encoder with CLIP's 49408-token vocabulary: the empty prompt's ids are then known."""
    torch.manual_seed(0)
    return CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=37, num_attention_heads=4,
                                        num_hidden_layers=2, max_position_embeddings=77)).eval()
