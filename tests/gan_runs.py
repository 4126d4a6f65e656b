"""What the person-specific generators' tests (pose2vid, its face stage, vid2vid, MRAA) share: `magicpose infer` on
the CPU in float32, the frames it writes beside its output (``<stem>_frames/*.png``), and tiny MRAA weights."""

from pathlib import Path

import numpy as np
from PIL import Image

from magicpose import cli

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_data"
CPU = ["--device", "cpu", "--dtype", "float32"]


def size_flags(height: int, width: int) -> list[str]:
    return ["--height", str(height), "--width", str(width)]


REFERENCE = ["--image", str(EXAMPLE / "reference.png")]
FAST = [*REFERENCE, *size_flags(32, 32)]


def infer_args(
    output: Path,
    *extra: str,
    generator: str | None = None,
    weights: Path | None = None,
    poses: Path | None = None,
) -> list[str]:
    """``magicpose infer [--generator G] [--weights W] [--poses P] --output O`` on the CPU in float32, then
    ``extra``."""
    named = {"--generator": generator, "--weights": weights, "--poses": poses}
    flags = [item for flag, value in named.items() if value is not None for item in (flag, str(value))]
    return ["infer", *flags, "--output", str(output), *CPU, *extra]


def pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


def infer_frames(output: Path, *extra: str, **named) -> list[np.ndarray]:
    """Run :func:`infer_args`, which must succeed; the frames it wrote (``<output stem>_frames/``)."""
    assert cli.main(infer_args(output, *extra, **named)) == 0
    return pngs(output.parent / f"{output.stem}_frames")
