"""MRAA's self-reconstruction (ref-mraa-and-peers.md §A.7): each test video's first frame, driven by every frame of
the same video, should give that frame back. The result is written in ``magicpose infer-dataset``'s layout
(``<video>/gen_images/`` and ``<video>/gt_images/``, frames paired by name), which ``magicpose evaluate``
scores: L1 (the paper's), AKD and MKR (with a pose extractor's weights), AED (with an identity embedder).

As the original's ``reconstruction.py``, and unlike animation, the background predictor moves the background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from magicpose import files
from magicpose.data.video_frames import list_frame_videos

KIND = "reconstruction"


def reconstruct_videos(
    pipe, root: str | Path, split: str, output_dir: str | Path, size: int | None = None, progress: bool = True
) -> Path:
    """Every video of ``split`` under ``root`` rebuilt from its first frame into ``output_dir`` (written whole,
    or not at all); ``size``: frame side (default: the pipeline's training size)."""
    videos = list_frame_videos(root, split)
    size = size or pipe.default_size[0]
    output_dir = Path(output_dir)
    files.check_replaceable(output_dir, "output folder", inputs=[root], nested=True, kind=KIND)
    total = sum(len(v) for v in videos)
    bar = tqdm(total=total, desc="reconstruct", unit="frame", disable=not progress)
    with files.parents_removed_on_error(output_dir.parent), files.atomic_path(output_dir, kind=KIND) as tmp:
        for video in videos:
            frames = video.read(size)
            gen_dir, gt_dir = tmp / video.name / "gen_images", tmp / video.name / "gt_images"
            gen_dir.mkdir(parents=True)
            gt_dir.mkdir(parents=True)
            generated = pipe.iter_frames(frames[0], frames, height=size, width=size, background=True)
            for k, (truth, made) in enumerate(zip(frames, generated, strict=True)):
                Image.fromarray(truth).save(gt_dir / f"{k:05d}.png")
                Image.fromarray(np.asarray(made)).save(gen_dir / f"{k:05d}.png")
                bar.update(1)
    bar.close()
    return output_dir
