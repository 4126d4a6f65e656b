"""Sampler speed and memory, measured side by side in one run.

    python benchmarks/bench_sampler.py [--steps 10] [--frames 8] [--size 128] [--repeats 3]

On the "sd-small" configuration (the SD 1.5 block layout with fewer channels, see magicpose.tiny_models)
it times, for the same inputs and seed:

  (a) the literal original loop from tests/test_pipeline_equivalence.py: one frame at a time, the
      appearance UNet rerun for every frame and step, the ControlNet run for both branches;
  (b) MagicPosePipeline (output_type="latent", frames_per_batch=4);
  (c) the floor: only the passes that cannot be avoided (the appearance UNet once per step, then per
      frame batch one ControlNet, the conditional and the unconditional UNet), with every input
      precomputed outside the timer;

plus 50 appearance-UNet passes run to the end against the same passes stopped after the last bank
write, and the peak resident memory added by a pipeline call (sampling plus streamed decoding) for 8 and
32 frames, each the median of three fresh processes. Each timing is the minimum over --repeats interleaved runs.
The last line of output is one JSON object with the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from results import record  # noqa: E402
from sampling import sample  # noqa: E402
from test_pipeline_equivalence import literal_original_loop  # noqa: E402

from magicpose.models.reference_attention import attached_reference_bank, run_appearance_unet  # noqa: E402
from magicpose.tiny_models import make_components  # noqa: E402

FRAMES_PER_BATCH = 4
GUIDANCE = 7.0
SEED = 42


def example_inputs(num_frames: int, size: int) -> tuple[Image.Image, list[Image.Image]]:
    """The embedded example reference and poses (looped), resized to ``size``."""
    reference = Image.open(ROOT / "example_data" / "reference.png").convert("RGB").resize((size, size))
    files = sorted((ROOT / "example_data" / "poses").glob("*.png"))
    poses = [Image.open(files[i % len(files)]).convert("RGB").resize((size, size)) for i in range(num_frames)]
    return reference, poses


def build_pipeline(components):
    from magicpose import MagicPosePipeline

    pipe = MagicPosePipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_pipeline(pipe, reference, poses, size, steps):
    options = {"guidance_scale": GUIDANCE, "frames_per_batch": FRAMES_PER_BATCH, "output_type": "latent"}
    return sample(pipe, reference, poses, size, steps, SEED, **options)


def prepare_floor(pipe, reference, poses, size, steps):
    """Everything the floor loop needs, computed outside the timer."""
    device, dtype = torch.device("cpu"), pipe.unet.dtype
    context = pipe.encode_prompt("", device)[0]
    pose = pipe.prepare_pose_images(poses, size, size).float() / 255.0
    latents = pipe.prepare_latents(
        len(poses), size, size, True, torch.Generator().manual_seed(SEED), device, dtype, None
    )
    ref = pipe.encode_reference(reference, size, size, torch.Generator().manual_seed(SEED), device, dtype)
    pipe.scheduler.set_timesteps(steps)
    return context, pose, latents, ref, pipe.scheduler.timesteps


@torch.no_grad()
def run_floor(pipe, context, pose, latents, ref, timesteps):
    with attached_reference_bank(pipe.appearance_unet, pipe.unet, pipe.bank):
        return _floor_loop(pipe, context, pose, latents, ref, timesteps)


def _floor_loop(pipe, context, pose, latents, ref, timesteps):
    z = latents.clone()
    for t in timesteps:
        run_appearance_unet(pipe.appearance_unet, pipe.bank, ref, t, context)
        eps = torch.empty_like(z)
        for s in range(0, z.shape[0], FRAMES_PER_BATCH):
            zb = z[s : s + FRAMES_PER_BATCH]
            ctx = context.expand(zb.shape[0], -1, -1)
            down, mid = pipe.controlnet(
                zb,
                t,
                encoder_hidden_states=ctx,
                controlnet_cond=pose[s : s + FRAMES_PER_BATCH],
                return_dict=False,
            )
            with pipe.bank.reading():
                eps_c = pipe.unet(
                    zb,
                    t,
                    encoder_hidden_states=ctx,
                    down_block_additional_residuals=down,
                    mid_block_additional_residual=mid,
                ).sample
            eps_u = pipe.unet(zb, t, encoder_hidden_states=ctx).sample
            eps[s : s + FRAMES_PER_BATCH] = eps_u + GUIDANCE * (eps_c - eps_u)
        z = pipe.scheduler.step(eps, t, z).prev_sample
    return z


@torch.no_grad()
def appearance_passes(pipe, ref, context, stop_after_last_write, count=50):
    with attached_reference_bank(pipe.appearance_unet, pipe.unet, pipe.bank):
        for _ in range(count):
            run_appearance_unet(pipe.appearance_unet, pipe.bank, ref, 500, context, stop_after_last_write)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def measure_memory(num_frames: int, size: int, steps: int) -> int:
    """Peak RSS added by one pipeline call plus streamed decoding (sampled every millisecond)."""
    components = make_components("sd-small", seed=0)
    pipe = build_pipeline(components)
    reference, poses = example_inputs(num_frames, size)
    run_pipeline(pipe, reference, poses[:FRAMES_PER_BATCH], size, 1)  # warm up allocator and kernels
    baseline = _rss_bytes()
    peak, done = [baseline], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    latents = run_pipeline(pipe, reference, poses, size, steps)
    count = sum(1 for _ in pipe.iter_frames(latents, batch_size=FRAMES_PER_BATCH))
    done.set()
    sampler.join()
    assert count == num_frames
    return max(peak[0] - baseline, 0)


def _memory_child(num_frames: int, size: int) -> int:
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(num_frames), "--size", str(size), "--steps", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        print(measure_memory(args.memory_child, args.size, args.steps))
        return

    torch.manual_seed(0)
    components = make_components("sd-small", seed=0)
    pipe = build_pipeline(components)
    reference, poses = example_inputs(args.frames, args.size)
    print(
        f"sd-small: UNet {sum(p.numel() for p in pipe.unet.parameters()) / 1e6:.1f}M params, ControlNet "
        f"{sum(p.numel() for p in pipe.controlnet.parameters()) / 1e6:.1f}M; {args.frames} frames at "
        f"{args.size}x{args.size}, {args.steps} steps, guidance {GUIDANCE}, torch threads {torch.get_num_threads()}"
    )
    floor_inputs = prepare_floor(pipe, reference, poses, args.size, args.steps)
    times = {"original": [], "pipeline": [], "floor": [], "appearance_full": [], "appearance_stop": []}
    for _ in range(args.repeats):
        t, original = _timed(
            lambda: literal_original_loop(
                components, reference, poses, args.steps, GUIDANCE, SEED, size=args.size, decode=False
            )
        )
        times["original"].append(t)
        t, ours = _timed(lambda: run_pipeline(pipe, reference, poses, args.size, args.steps))
        times["pipeline"].append(t)
        t, _ = _timed(lambda: run_floor(pipe, *floor_inputs))
        times["floor"].append(t)
        for stop, key in ((False, "appearance_full"), (True, "appearance_stop")):
            t, _ = _timed(lambda stop=stop: appearance_passes(pipe, floor_inputs[3], floor_inputs[0], stop))
            times[key].append(t)
    best = {k: min(v) for k, v in times.items()}
    diff = (original - ours).abs().max().item()
    for k, v in times.items():
        print(f"  {k:9s} best {best[k]:7.3f} s  (runs: {', '.join(f'{x:.3f}' for x in v)})")
    print(f"  max |latents(original) - latents(pipeline)| = {diff:.2e}")

    memory = {}
    for n in (8, 32):
        # A few MiB of allocator noise between processes: take the median of three fresh processes.
        runs = [_memory_child(n, args.size) for _ in range(3)]
        memory[n] = int(np.median(runs))
        print(
            f"  peak memory added by a {n}-frame call: {memory[n] / 2**20:.1f} MiB "
            f"(runs: {', '.join(f'{r / 2**20:.1f}' for r in runs)})"
        )
    result = {
        "pipeline_over_original": round(best["pipeline"] / best["original"], 3),
        "pipeline_over_floor": round(best["pipeline"] / best["floor"], 3),
        "mem_32_over_8": round(memory[32] / max(memory[8], 1), 3),
        "appearance_stop_over_full": round(best["appearance_stop"] / best["appearance_full"], 3),
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "peak_mib": {str(n): round(m / 2**20, 1) for n, m in memory.items()},
        "max_abs_latent_diff": float(f"{diff:.3g}"),
    }
    print(json.dumps(result))
    record("bench_sampler", result)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
