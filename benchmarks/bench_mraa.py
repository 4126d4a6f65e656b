"""MRAA (region-based animation) inference speed on this CPU, eager vs torch.compile, measured side by side in
one run (issue 23).

    python benchmarks/bench_mraa.py [--frames 2] [--repeats 5] [--configs mraa_256,mraa_demo]
                                    [--compile-configs mraa_256,mraa_demo] [--compile-timeout 600]
                                    [--no-compile] [--quick]

For randomly initialised networks in eval mode (speed does not depend on the weights), built by
``mraa_trainer.build_pipeline`` from a training config:

  mraa_256   the original MRAA's 256x256 networks (mraa_config's defaults): 10 regions, region predictor
             hourglass 32 filters / 1024 max / 5 blocks at scale 0.25, flow predictor 64 / 1024 / 5 at 0.25,
             generator 64 / 512 with 2 down blocks and 6 bottleneck blocks; at 256x256 (sides must be multiples
             of 128);
  mraa_demo  the demo's networks (configs/demo_mraa.yaml) at its 64x64;

it times what MRAAPipeline.iter_frames does per driving frame in the ``standard`` mode: the region predictor
on the driving frame, then the generator (flow predictor, encoder, warps, decoder) from the source and its
regions. The source's regions are computed once, outside the timer (iter_frames computes them once per
video); the frames (example_data/reference.png animated by example_data/driving/, looped) are centre-cropped,
resized and converted to tensors outside the timer too. --frames consecutive driving frames per timed run:

  (a) ``eager``: both networks under ``torch.no_grad()``, as iter_frames runs them;
  (b) ``compile``: ``torch.compile`` (default mode, static shapes) of one module holding that per-frame work
      (region predictor + generator), for the configurations in --compile-configs. A child process with a
      fresh inductor cache compiles it; the first call's wall time is ``compile_s``, not part of frames/s.
      The child then times the eager work interleaved with the compiled one, and ``ratio_compile_over_eager``
      compares those runs of the same process. A failure or time-out (--compile-timeout) is a skipped entry
      (``compile_fps`` null, ``compile_skipped`` the reason);

plus (a) through the whole pipeline, ``list(MRAAPipeline.iter_frames(...))`` on the uint8 frames (the crop,
resize and uint8 conversion and the source's regions, once per call, are timed), so its overhead shows in
``ratio_pipeline_over_eager``.

Each variant is warmed up on one frame first; each timing is the minimum over --repeats interleaved runs; a
ratio is a variant's frames/s over the eager frames/s (above 1: faster). Every variant is checked against
(a): ``max_abs_diff_compile`` is the largest absolute difference between the compiled frames and the eager
ones (floats in [0, 1]; inductor's kernels round differently, and the region maths - softmax at temperature
0.1, SVD, inverses - can amplify that), ``compile_matches_eager`` whether it is within ``TOLERANCE``, and
``max_abs_diff_pipeline_uint8`` compares the pipeline's uint8 frames with the eager frames quantised the same
way (0: the same numbers). ``compile_break_even_frames`` is ``compile_s`` over the seconds compiling saves
per frame (None where it saves none). The CPU is shared: the JSON records the load averages (1, 5 and 15
minutes) at the start (others' work) and at the end (ours included); timings taken while others hold a core
are slower and noisier (interleaving and the minimum keep the ratios usable, the absolute frames/s less so).
A table goes to stderr; the last line of stdout is one JSON object, also recorded as
benchmarks/results/bench_mraa.json with the machine. ``--quick`` (mraa_demo only, one frame, one repeat, no
compile) runs in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_gan import fmt, log, parse_size, rounded, time_variants, timed
from PIL import Image
from results import record
from torch import nn

from magicpose.training.mraa_config import load_mraa_config
from magicpose.training.mraa_trainer import build_pipeline

ROOT = Path(__file__).resolve().parents[1]
# name: (training config file, None for mraa_config's defaults; WIDTHxHEIGHT it runs at)
CONFIGS = {"mraa_256": (None, "256x256"), "mraa_demo": (ROOT / "configs" / "demo_mraa.yaml", "64x64")}
# what a training config needs to load, irrelevant to the networks it describes
PLACEHOLDERS = ["data.root=unused", "output_dir=unused", "loss.l1_weight=1"]
SEED = 0
# largest |compiled frame - eager frame| (frames in [0, 1]) still taken for the same numbers: a tenth of a
# uint8 step
TOLERANCE = 0.1 / 255


def build_pipeline_for(name: str):
    """The pipeline of configuration ``name`` with random weights (the compile child rebuilds the same ones),
    its networks in eval mode."""
    path, _ = CONFIGS[name]
    cfg = load_mraa_config(path, PLACEHOLDERS)
    torch.manual_seed(SEED)
    pipe = build_pipeline(cfg)
    for net in (pipe.region_predictor, pipe.generator, pipe.bg_predictor):
        net.eval()
    return pipe


class FrameStep(nn.Module):
    """What iter_frames does per driving frame (standard mode): regions of the driving frame, then the
    generator's prediction from the source and its regions; one module, so torch.compile sees it whole."""

    def __init__(self, region_predictor: nn.Module, generator: nn.Module) -> None:
        super().__init__()
        self.region_predictor, self.generator = region_predictor, generator

    def forward(self, source, source_regions, driving):
        return self.generator(source, source_regions, self.region_predictor(driving)).prediction


def frame_arrays(num_frames: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The example's source picture and ``num_frames`` driving frames (looped), uint8 (H, W, 3)."""
    source = np.asarray(Image.open(ROOT / "example_data" / "reference.png").convert("RGB"))
    files = sorted((ROOT / "example_data" / "driving").glob("*.png"))
    driving = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    return source, [driving[i % len(driving)] for i in range(num_frames)]


def inputs(pipe, num_frames: int, width: int, height: int) -> tuple[np.ndarray, list[np.ndarray], tuple]:
    """uint8 source and driving frames, and the networks' inputs made from them as iter_frames does: (source
    tensor, its regions, one driving tensor per frame)."""
    source, driving = frame_arrays(num_frames)
    source_t = pipe.image_input(source, height, width)
    with torch.no_grad():
        source_regions = pipe.region_predictor(source_t)
    driving_t = [pipe.image_input(frame, height, width) for frame in driving]
    return source, driving, (source_t, source_regions, driving_t)


def animate(step, source, source_regions, driving: list[torch.Tensor]) -> torch.Tensor:
    """One prediction per driving frame, (F, 3, H, W) in [0, 1]."""
    with torch.no_grad():
        return torch.cat([step(source, source_regions, frame) for frame in driving])


def quantise(frames: torch.Tensor) -> torch.Tensor:
    """As MRAAPipeline.iter_frames: [0, 1] floats -> uint8, (F, H, W, 3)."""
    return (frames.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


# ----------------------------------------------------------------------------------------------------------
# (b) torch.compile, in a child process


def compile_child(args) -> None:
    """Compile the per-frame work of ``--compile-child`` and time it interleaved with eager; the report and
    the compiled frames go to ``--out``."""
    pipe = build_pipeline_for(args.compile_child)
    width, height = parse_size(CONFIGS[args.compile_child][1])
    _, _, (source, source_regions, driving) = inputs(pipe, args.frames, width, height)
    step = FrameStep(pipe.region_predictor, pipe.generator)
    compiled = torch.compile(step, dynamic=False)
    times = {"compiled": [], "eager": []}
    compile_s, _ = timed(lambda: animate(compiled, source, source_regions, driving[:1]))
    animate(compiled, source, source_regions, driving[:1])  # warm-up (same shapes: no recompilation)
    animate(step, source, source_regions, driving[:1])
    for _ in range(args.repeats):
        t, frames = timed(lambda: animate(compiled, source, source_regions, driving))
        times["compiled"].append(t)
        t, _ = timed(lambda: animate(step, source, source_regions, driving))
        times["eager"].append(t)
    out = Path(args.out)
    torch.save(frames, out / "frames.pt")
    (out / "report.json").write_text(json.dumps({"compile_s": compile_s, "times": times}))


def run_compile(name: str, args, work: Path) -> tuple[dict | None, torch.Tensor | None, str | None]:
    """(report, frames, None), or (None, None, reason) when the child failed or timed out."""
    out = work / f"compiled-{name}"
    out.mkdir()
    cmd = [sys.executable, __file__, "--compile-child", name, "--frames", str(args.frames)]
    cmd += ["--repeats", str(args.repeats), "--out", str(out)]
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(out / "inductor-cache")}  # a cold compile
    # its own session, so that a time-out also ends the compile workers it started
    child = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        _, stderr = child.communicate(timeout=args.compile_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return (
            None,
            None,
            f"timed out: the compile child ran past --compile-timeout {args.compile_timeout:.0f} s",
        )
    if child.returncode != 0 or not (out / "report.json").exists():
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return None, None, f"failed (exit {child.returncode}): {lines[-1][:300] if lines else 'no message'}"
    return json.loads((out / "report.json").read_text()), torch.load(out / "frames.pt"), None


# ----------------------------------------------------------------------------------------------------------
# the parent: (a) and the pipeline, interleaved


def bench_eager(pipe, size: str, args) -> tuple[dict, torch.Tensor]:
    """(a) and the pipeline at ``size``, interleaved: the row and the eager frames."""
    width, height = parse_size(size)
    source, driving, (source_t, source_regions, driving_t) = inputs(pipe, args.frames, width, height)
    step = FrameStep(pipe.region_predictor, pipe.generator)

    def eager(count=args.frames):
        return animate(step, source_t, source_regions, driving_t[:count])

    def pipeline(count=args.frames):
        return np.stack(list(pipe.iter_frames(source, driving[:count], "standard", height, width)))

    fps, outputs, times = time_variants({"eager": eager, "pipeline": pipeline}, args.frames, args.repeats)
    ref, piped = outputs["eager"], outputs["pipeline"]
    row = {
        "eager_fps": fps["eager"],
        "pipeline_fps": fps["pipeline"],
        "ratio_pipeline_over_eager": fps["pipeline"] / fps["eager"],
        "max_abs_diff_pipeline_uint8": int((torch.from_numpy(piped).int() - quantise(ref).int()).abs().max()),
        "compile_fps": None,
        "ratio_compile_over_eager": None,
        "max_abs_diff_compile": None,
        "max_abs_diff_compile_uint8": None,
        "compile_matches_eager": None,
        "compile_s": None,
        "compile_break_even_frames": None,
        "compile_skipped": None,
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }
    return row, ref


def add_compile(
    row: dict,
    ref: torch.Tensor,
    report: dict | None,
    frames: torch.Tensor | None,
    reason: str | None,
    num_frames: int,
) -> None:
    """The compiled path's figures into ``row``, checked against the eager frames ``ref``."""
    if report is None:
        row["compile_skipped"] = reason
        return
    compiled_fps = num_frames / min(report["times"]["compiled"])
    child_eager_fps = num_frames / min(report["times"]["eager"])
    saved_per_frame = 1 / child_eager_fps - 1 / compiled_fps
    diff = (frames - ref).abs().max().item()
    row.update(
        {
            "compile_fps": compiled_fps,
            "ratio_compile_over_eager": compiled_fps / child_eager_fps,
            "max_abs_diff_compile": diff,
            "max_abs_diff_compile_uint8": int((quantise(frames).int() - quantise(ref).int()).abs().max()),
            "compile_matches_eager": diff <= TOLERANCE,
            "compile_s": report["compile_s"],
            "compile_break_even_frames": report["compile_s"] / saved_per_frame
            if saved_per_frame > 0
            else None,
        }
    )
    row["seconds"].update(
        {f"compile_child_{k}": [round(x, 3) for x in v] for k, v in report["times"].items()}
    )


def skip_reason(name: str, args) -> str | None:
    """Why ``name`` is not compiled in this run (None: it is)."""
    if args.no_compile:
        return "--quick" if args.quick else "--no-compile"
    if name not in args.compile_configs.split(","):
        return f"not in --compile-configs {args.compile_configs!r}"
    return None


def bench_config(name: str, args, work: Path, started: float) -> dict:
    """Every variant of configuration ``name``: its entry of the JSON."""
    pipe = build_pipeline_for(name)
    size = CONFIGS[name][1]
    params = {
        net: sum(p.numel() for p in getattr(pipe, net).parameters())
        for net in ("region_predictor", "generator")
    }
    entry = {
        "config": str(CONFIGS[name][0].relative_to(ROOT)) if CONFIGS[name][0] else "mraa_config defaults",
        "params": params,
        "region_predictor": dict(pipe.region_predictor.config),
        "generator": {k: v for k, v in pipe.generator.config.items() if not k.startswith("_")},
        "size_multiple": pipe.size_multiple,
    }
    entry["region_predictor"] = {k: v for k, v in entry["region_predictor"].items() if not k.startswith("_")}
    log(
        f"{name}: region predictor {params['region_predictor'] / 1e6:.1f}M + generator "
        f"{params['generator'] / 1e6:.1f}M params, sides multiples of {pipe.size_multiple}, at {size}"
    )
    row, ref = bench_eager(pipe, size, args)
    entry[size] = row
    log(f"  {size}: eager {row['eager_fps']:.3f} fps ({time.perf_counter() - started:.0f} s)")
    del pipe
    reason = skip_reason(name, args)
    if reason:
        row["compile_skipped"] = reason
    else:
        add_compile(row, ref, *run_compile(name, args, work), args.frames)
        log(f"  {size}: compile {fmt(row['compile_fps'], '.3f')} fps ({time.perf_counter() - started:.0f} s)")
    return entry


def table(result: dict) -> None:
    head = (
        f"{'config':9s} {'size':>7s} | {'eager':>7s} | {'compile':>7s} {'ratio':>5s} {'max|d|':>7s} "
        f"{'uint8':>5s} {'comp s':>6s} {'b-even':>6s} | {'pipe':>7s} {'ratio':>5s} {'uint8':>5s}"
    )
    log(
        "frames/s; ratio: frames/s over the eager frames/s (compile: over the eager runs of its own process); "
        "max|d|: largest |frame - eager frame| (frames in [0, 1]); uint8: the same on the uint8 frames; "
        "comp s: the first call; b-even: frames to repay it"
    )
    log(head)
    log("-" * len(head))
    notes = []
    for name, entry in result["configs"].items():
        size = CONFIGS[name][1]
        row = entry[size]
        log(
            f"{name:9s} {size:>7s} | {row['eager_fps']:7.3f} | {fmt(row['compile_fps'], '7.3f')} "
            f"{fmt(row['ratio_compile_over_eager'], '5.2f')} {fmt(row['max_abs_diff_compile'], '7.1e')} "
            f"{fmt(row['max_abs_diff_compile_uint8'], '5')} {fmt(row['compile_s'], '6.0f')} "
            f"{fmt(row['compile_break_even_frames'], '6.0f')} | {row['pipeline_fps']:7.3f} "
            f"{row['ratio_pipeline_over_eager']:5.2f} {row['max_abs_diff_pipeline_uint8']:5d}"
        )
        if row["compile_skipped"]:
            notes.append(f"  compile skipped for {name}: {row['compile_skipped']}")
        elif not row["compile_matches_eager"]:
            notes.append(
                f"  WARNING: {name}'s compiled frames differ from eager by {row['max_abs_diff_compile']:.2e}, "
                f"over the tolerance {TOLERANCE:.2e}"
            )
    for line in notes:
        log(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=2, help="consecutive driving frames per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--configs", default="mraa_256,mraa_demo", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument(
        "--compile-configs", default="mraa_256,mraa_demo", help="configurations to torch.compile"
    )
    parser.add_argument(
        "--compile-timeout", type=float, default=600.0, help="seconds for one configuration's compile child"
    )
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="mraa_demo only, 1 frame, 1 repeat, no compile")
    parser.add_argument("--compile-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_child:
        compile_child(args)
        return
    if args.quick:
        args.configs, args.frames, args.repeats, args.no_compile = "mraa_demo", 1, 1, True
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {', '.join(unknown)} (known: {', '.join(CONFIGS)})")

    started, load_start = time.perf_counter(), list(os.getloadavg())
    log(
        f"MRAA inference (standard mode), {args.frames} driving frames per timed run, min over {args.repeats} "
        f"repeats, torch {torch.__version__}, {torch.get_num_threads()} threads; load average {load_start}"
    )
    result = {"configs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            result["configs"][name] = bench_config(name, args, Path(tmp), started)
    load_end = list(os.getloadavg())
    result.update(
        frames=args.frames,
        repeats=args.repeats,
        tolerance=TOLERANCE,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        total_s=time.perf_counter() - started,
        loadavg={"start": load_start, "end": load_end},
    )
    table(result)
    log(
        f"total {result['total_s']:.0f} s; load average (1, 5, 15 min) {load_start} at the start (others' "
        f"work), {load_end} at the end (ours included)"
        + (
            "; other processes held a core or more: absolute frames/s are low and noisy, the interleaved "
            "ratios less so"
            if load_start[0] > 1
            else ""
        )
    )
    print(json.dumps(rounded(result)))
    record("bench_mraa", rounded(result))


if __name__ == "__main__":
    main()
