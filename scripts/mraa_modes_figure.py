"""The README's picture of MRAA's three modes on the example: the reference, the driving frames (another dancer),
and what `standard`, `relative` and `avd` make of them, for 4 of the 16 frames.

    python scripts/mraa_modes_figure.py [--weights pretrained_weights/mraa_demo] [--out docs/mraa_modes.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from magicpose.image_utils import center_crop_resize, load_image
from magicpose.infer import DEFAULT_DRIVING_VIDEO, DEFAULT_IMAGE, DEFAULT_MRAA_WEIGHTS
from magicpose.pipelines.pipeline_mraa import MODES
from magicpose.video import save_marked_png
from magicpose.weights import load_mraa_pipeline

SHOWN = (0, 5, 10, 15)  # the driving frames in the picture
GAP = 4


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", default=str(DEFAULT_MRAA_WEIGHTS))
    parser.add_argument("--out", default="docs/mraa_modes.png")
    args = parser.parse_args()
    pipe = load_mraa_pipeline(args.weights)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.default_size[0]
    reference = load_image(DEFAULT_IMAGE, "reference image")
    driving = [np.asarray(load_image(p, "frame")) for p in sorted(Path(DEFAULT_DRIVING_VIDEO).glob("*.png"))]
    columns = {mode: list(pipe.iter_frames(reference, driving, mode=mode)) for mode in MODES}
    small = np.asarray(center_crop_resize(reference, size, size))
    gap = np.full((size, GAP, 3), 255, np.uint8)
    rows = []
    for k in SHOWN:
        cells = [small, np.asarray(center_crop_resize(driving[k], size, size))] + [
            columns[m][k] for m in MODES
        ]
        rows.append(np.concatenate([c for cell in cells for c in (cell, gap)][:-1], axis=1))
    band = np.full((GAP, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate([r for row in rows for r in (row, band)][:-1], axis=0)
    scaled = Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST)
    save_marked_png(np.asarray(scaled), Path(args.out))
    print(f"wrote {args.out}: reference | driving | {' | '.join(MODES)}, frames {SHOWN}")


if __name__ == "__main__":
    main()
