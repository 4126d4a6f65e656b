"""Copy a trained pipeline folder (MagicPose, pose2vid, vid2vid or MRAA) into pretrained_weights/ as float16 safetensors.

    python scripts/export_demo_weights.py TRAINED_PIPELINE [OUT] [--note TEXT]

float16 halves the size on disk (the demo must stay small); the CLI loads it back as float32. The class
comes from the folder's model_index.json; OUT defaults to pretrained_weights/demo (MagicPose),
pretrained_weights/pose2vid_demo (Everybody Dance Now), pretrained_weights/vid2vid_demo (vid2vid) or
pretrained_weights/mraa_demo (MRAA).
"""

import argparse
import json
import shutil
from pathlib import Path

import torch

from magicpose import MagicPosePipeline, Pose2VidPipeline
from magicpose.model_index import pipeline_class_name
from magicpose.pipelines.pipeline_mraa import MRAAPipeline
from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline
from magicpose.weights import INFO_FILE

KINDS = {
    "MagicPosePipeline": (
        MagicPosePipeline,
        "pretrained_weights/demo",
        "demo weights trained on synthetic dancers by scripts/train_demo.sh (64x64, CPU): they "
        "retarget synthetic figures, not real photos",
    ),
    "Pose2VidPipeline": (
        Pose2VidPipeline,
        "pretrained_weights/pose2vid_demo",
        "Everybody Dance Now demo weights trained by scripts/train_pose2vid_demo.sh on one "
        "synthetic dancer (the example's, 64x64, CPU): they render that dancer only",
    ),
    "Vid2VidPipeline": (
        Vid2VidPipeline,
        "pretrained_weights/vid2vid_demo",
        "vid2vid demo weights trained by scripts/train_vid2vid_demo.sh on one synthetic dancer (the "
        "example's, 64x64, CPU): they render that dancer only",
    ),
    "MRAAPipeline": (
        MRAAPipeline,
        "pretrained_weights/mraa_demo",
        "MRAA demo weights trained by scripts/train_mraa_demo.sh on one synthetic dancer (the example's, 64x64, "
        "CPU): they animate synthetic figures, not real photos",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pipeline")
    parser.add_argument("out", nargs="?", default=None)
    parser.add_argument("--note", default=None, help="the description stored in magicpose_info.json")
    args = parser.parse_args()
    name = pipeline_class_name(json.loads((Path(args.pipeline) / "model_index.json").read_text()))
    cls, default_out, default_note = KINDS[name]
    pipe = cls.from_pretrained(args.pipeline, dtype=torch.float16)
    out = Path(args.out or default_out).resolve()  # pretrained_weights/demo* link into the package
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp)
    note = args.note or default_note
    (tmp / INFO_FILE).write_text(json.dumps({"kind": "trained", "description": note}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
