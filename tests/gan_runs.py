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


MRAA_SMALL = {"block_expansion": 4, "max_features": 16, "num_blocks": 2}


def tiny_mraa(avd: bool):
    """An untrained MRAA pipeline small enough for the CPU (32x32 frames, 3 regions), seeded: the same each call."""
    import torch

    from magicpose.models.mraa_avd import AVDNetwork
    from magicpose.models.mraa_background import BackgroundMotionPredictor
    from magicpose.models.mraa_generator import MRAAGenerator
    from magicpose.models.mraa_regions import RegionPredictor
    from magicpose.pipelines.pipeline_mraa import MRAAPipeline

    torch.manual_seed(0)
    return MRAAPipeline(
        region_predictor=RegionPredictor(num_regions=3, **MRAA_SMALL),
        generator=MRAAGenerator(
            num_regions=3,
            block_expansion=4,
            max_features=16,
            num_bottleneck_blocks=1,
            flow_params=MRAA_SMALL,
            sample_size=32,
        ),
        avd_network=AVDNetwork(num_regions=3, id_bottleneck=8, pose_bottleneck=8) if avd else None,
        bg_predictor=BackgroundMotionPredictor("affine", **MRAA_SMALL),
    )
