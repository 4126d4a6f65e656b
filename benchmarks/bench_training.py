"""Training throughput and peak memory per stage, measured side by side in one run.

    python benchmarks/bench_training.py [--size tiny|sd-small] [--steps 20] [--batch-size 8]

For each stage (appearance, pose_control), with and without gradient checkpointing, one fresh
process trains the configs/tiny_*.yaml settings on a small synthetic-dancers set and reports samples
per second (after 3 warm-up steps) and its peak resident memory. Then the pose-control stage runs
under `torchrun --nproc_per_node 2` (gloo, ACCELERATE_USE_CPU=true) with the same per-process batch,
for the 2-process / 1-process throughput ratio (on 2 cores the two processes share the CPU). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import record

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "appearance": ROOT / "configs" / "tiny_appearance.yaml",
    "pose_control": ROOT / "configs" / "tiny_pose_control.yaml",
}
WARMUP = 3


def child(args) -> None:
    """Train and report {"samples_per_s", "peak_mib", "rank"}; runs inside a fresh (torchrun) process."""
    import torch

    from magicpose.training.config import load_config
    from magicpose.training.magicpose_trainer import MagicPoseTrainer

    overrides = [
        f"model.pretrained_dir={args.work}/pretrained",
        f"data.root={args.work}/data",
        f"output_dir={args.work}/run-{args.child}-{args.checkpointing}-{os.environ.get('WORLD_SIZE', 1)}",
        f"train.batch_size={args.batch_size}",
        f"train.max_steps={args.steps + WARMUP}",
        f"train.gradient_checkpointing={args.checkpointing}",
        "checkpoint.every_steps=100000",
        "validation.every_steps=0",
        f"data.height={args.pixels}",
        f"data.width={args.pixels}",
    ]
    if args.child == "pose_control":
        overrides.append(f"model.appearance_unet={args.work}/pretrained/unet")
    torch.manual_seed(0)
    trainer = MagicPoseTrainer(load_config(CONFIGS[args.child], overrides, stage=args.child))
    trainer.train()
    times = trainer.step_times  # end of each optimizer step
    seconds = times[WARMUP + args.steps - 1] - times[WARMUP - 1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "samples_per_s": args.steps * args.batch_size / seconds,
                "peak_mib": round(peak, 1),
                "rank": int(os.environ.get("RANK", 0)),
            }
        )
    )


def prepare(work: Path, size: str) -> None:
    from magicpose.synthetic import make_synthetic
    from magicpose.tiny_models import make_pipeline

    make_pipeline(size, seed=0).save_pretrained(work / "pretrained")
    make_synthetic(
        work / "data", num_train_videos=12, num_test_videos=1, frames_per_video=8, size=64, progress=False
    )


def run_child(work: Path, stage: str, checkpointing: bool, args, nproc: int = 1) -> list[dict]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        stage,
        "--work",
        str(work),
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--pixels",
        str(args.pixels),
        "--checkpointing",
        str(checkpointing),
    ]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), *cmd[1:]]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true"}
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{done.stderr[-3000:]}")
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for r in reports:
        r["wall_s"] = time.perf_counter() - started
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="tiny", choices=("tiny", "sd-small"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--pixels", type=int, default=64)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", default="False", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.checkpointing = args.checkpointing == "True"
        child(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work, args.size)
        print(
            f"{args.size} models, {args.pixels}x{args.pixels} synthetic dancers, batch {args.batch_size} per "
            f"process, {args.steps} timed steps after {WARMUP} warm-up steps"
        )
        result = {}
        for stage in ("appearance", "pose_control"):
            for checkpointing in (False, True):
                r = run_child(work, stage, checkpointing, args)[0]
                key = f"{stage}{'_checkpointing' if checkpointing else ''}"
                result[key] = {"samples_per_s": round(r["samples_per_s"], 2), "peak_mib": r["peak_mib"]}
                print(f"  {key:30s} {r['samples_per_s']:7.2f} samples/s   peak {r['peak_mib']:7.1f} MiB")
        two = run_child(work, "pose_control", False, args, nproc=2)
        total = sum(r["samples_per_s"] for r in two)
        result["pose_control_2proc"] = {
            "samples_per_s": round(total, 2),
            "peak_mib_per_process": max(r["peak_mib"] for r in two),
        }
        result["two_over_one_process"] = round(total / result["pose_control"]["samples_per_s"], 3)
        for stage in ("appearance", "pose_control"):
            result[f"{stage}_checkpointing_memory_ratio"] = round(
                result[f"{stage}_checkpointing"]["peak_mib"] / result[stage]["peak_mib"], 3
            )
        print(
            f"  pose_control, 2 processes (gloo): {total:.2f} samples/s in all, "
            f"{result['two_over_one_process']:.2f}x one process"
        )
        record("bench_training", result)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
