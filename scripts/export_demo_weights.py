"""Copy a trained MagicPose pipeline folder into pretrained_weights/demo as float16 safetensors.

    python scripts/export_demo_weights.py TRAINED_PIPELINE [OUT] [--note TEXT]

float16 halves the size on disk (the demo must stay small); the CLI loads it back as float32.
"""

import argparse
import json
import shutil
from pathlib import Path

import torch

from magicpose import MagicPosePipeline
from magicpose.weights import INFO_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("out", nargs="?", default="pretrained_weights/demo")
    parser.add_argument("--note", default="demo weights trained on synthetic dancers by scripts/train_demo.sh "
                                          "(64x64, CPU): they retarget synthetic figures, not real photos")
    args = parser.parse_args()
    pipe = MagicPosePipeline.from_pretrained(args.pipeline).to(dtype=torch.float16)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp)
    (tmp / INFO_FILE).write_text(json.dumps({"kind": "trained", "description": args.note}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
