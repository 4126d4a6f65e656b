"""Quality versus training steps: ``eval_demo`` on every checkpoint of a stage-2 run, one table.

    python benchmarks/eval_curve.py outputs/demo_training/stage2 [--weights pretrained_weights/demo] [--pairs 20]

Each ``<run>/checkpoints/checkpoint-<step>/`` (appearance UNet and ControlNet) is put into the
pipeline of ``--weights`` (which supplies the frozen VAE, UNet and text encoder of that run) and
scored on the same held-out pairs as ``eval_demo.py``. The copy-the-reference and pose-map
baselines do not depend on the weights and are computed once. The last line is one JSON object:
``{"steps": [...], "magicpose": [{"iou", "psnr", "ssim_gaussian"}, ...], "copy_reference": {...}, "pose_map": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from eval_demo import add_held_out_arguments, evaluate, with_trained_modules
from results import record


def checkpoints_by_step(run: Path) -> list[tuple[int, Path]]:
    found = []
    for folder in (run / "checkpoints").glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", folder.name)
        if m and (folder / "appearance_unet").is_dir():
            found.append((int(m.group(1)), folder))
    return sorted(found)


def _figures(m: dict) -> str:
    return (
        f"IoU {m['iou']:.3f}  PSNR {m['psnr']:6.2f} dB (figure {m['psnr_figure']:6.2f}, room {m['psnr_room']:6.2f})"
        f"  SSIM-Gaussian {m['ssim_gaussian']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a training output_dir holding checkpoints/checkpoint-<step>/")
    add_held_out_arguments(parser, pairs=20, frames=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance-scale", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    from magicpose.weights import load_pipeline

    points = checkpoints_by_step(Path(args.run))
    if not points:
        raise SystemExit(f"error: no checkpoints/checkpoint-<step>/ with an appearance_unet/ in '{args.run}'")
    base = load_pipeline(args.weights)
    curve, baselines = [], {}
    for step, folder in points:
        print(f"== step {step}: {folder}", flush=True)
        result, _ = evaluate(
            with_trained_modules(base, folder),
            args.pairs,
            args.frames,
            args.fps,
            args.steps,
            args.guidance_scale,
            args.seed,
            log=lambda line: None,
        )
        curve.append(result["magicpose"])
        baselines = {k: v for k, v in result.items() if k != "magicpose"}
        m = result["magicpose"]
        print(f"step {step:6d}  {_figures(m)}", flush=True)
    for name, m in baselines.items():
        print(f"{name:11s}  {_figures(m)}")
    result = {"run": args.run, "steps": [s for s, _ in points], "magicpose": curve, **baselines}
    record("eval_curve", result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
