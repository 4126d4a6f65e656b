"""Quality against steps for diffusers schedulers swapped into the demo model, side by side in one run.

    python benchmarks/eval_schedulers.py [--weights pretrained_weights/demo] [--pairs 4] [--frames 4]

Each configuration (scheduler, steps) generates the same held-out (identity, motion) pairs as
benchmarks/eval_demo.py, from the same seeds, and is scored against the true renders (PSNR, foreground IoU,
11x11-Gaussian SSIM) and against the original sampler's frames (DDIM, 50 steps: mean and 99th-percentile
absolute difference in uint8 levels), with the seconds per video. Schedulers are built as diffusers documents
it: ``Scheduler.from_config(pipe.scheduler.config)``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import diffusers
import numpy as np
import torch
from eval_demo import add_held_out_arguments, held_out_case, scores
from results import record
from sampling import sample, to_uint8

from magicpose.synthetic import split_ids

CONFIGS = [
    ("DDIMScheduler", 50, {}),
    ("DDIMScheduler", 20, {}),
    ("DPMSolverMultistepScheduler", 20, {}),
    ("DPMSolverMultistepScheduler", 10, {}),
    ("DPMSolverMultistepScheduler", 10, {"use_karras_sigmas": True}),
    ("UniPCMultistepScheduler", 10, {}),
    ("EulerDiscreteScheduler", 20, {}),
    ("EulerAncestralDiscreteScheduler", 20, {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_held_out_arguments(parser, pairs=4, frames=4)
    parser.add_argument("--seed", type=int, default=1234, help="picks the held-out pairs (as eval_demo.py)")
    args = parser.parse_args()

    from magicpose.weights import load_pipeline

    pipe = load_pipeline(args.weights)
    pipe.set_progress_bar_config(disable=True)
    original = pipe.scheduler
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    cases = [
        held_out_case(i, m, args.frames, size, args.fps) for i, m in split_ids(args.seed, "test", args.pairs)
    ]
    results, baseline = {}, None
    for name, steps, options in CONFIGS:
        pipe.scheduler = getattr(diffusers, name).from_config(original.config, **options)
        label = f"{name.removesuffix('Scheduler')}{' Karras' if options else ''} {steps}"
        frames, figures, seconds = [], {}, 0.0
        for n, (reference, maps, truth, background) in enumerate(cases):
            started = time.perf_counter()
            out = sample(pipe, reference, maps, size, steps, n, output_type="np")
            seconds += time.perf_counter() - started
            generated = to_uint8(out)
            frames.append(np.stack(generated))
            for metric, values in scores(generated, truth, background).items():
                figures.setdefault(metric, []).extend(values)
        frames = np.concatenate(frames).astype(np.int16)
        baseline = frames if baseline is None else baseline
        diff = np.abs(frames - baseline)
        results[label] = {
            "steps": steps,
            "psnr": float(np.mean(figures["psnr"])),
            "iou": float(np.mean(figures["iou"])),
            "ssim_gaussian": float(np.mean(figures["ssim_gaussian"])),
            "levels_from_ddim50_mean": float(diff.mean()),
            "levels_from_ddim50_p99": float(np.percentile(diff, 99)),
            "seconds_per_video": seconds / len(cases),
        }
        r = results[label]
        print(
            f"{label:28s} PSNR {r['psnr']:6.2f} dB  IoU {r['iou']:.3f}  SSIM-G {r['ssim_gaussian']:.3f}  "
            f"vs DDIM 50: mean {r['levels_from_ddim50_mean']:5.2f}, p99 {r['levels_from_ddim50_p99']:5.1f} levels  "
            f"{r['seconds_per_video']:5.2f} s/video",
            flush=True,
        )
    summary = {
        "pairs": args.pairs,
        "frames": args.frames,
        "size": size,
        "torch_threads": torch.get_num_threads(),
        "results": results,
    }
    print(json.dumps(summary))
    record("eval_schedulers", summary)


if __name__ == "__main__":
    main()
