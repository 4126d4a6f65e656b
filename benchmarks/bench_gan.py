"""pose2vid (Everybody Dance Now) and vid2vid inference speed on this CPU, measured side by side in one run.

    python benchmarks/bench_gan.py [--frames 2] [--repeats 3] [--configs edn,demo,v2v_256p,v2v_demo]
                                   [--sizes 256x256,512x288] [--compile-configs demo,v2v_demo]
                                   [--freezing-configs edn,demo,v2v_256p,v2v_demo]
                                   [--compile-timeout 300] [--no-compile] [--quick]

For randomly initialised generators (speed does not depend on the weights), two of each family:

  edn       pose2vid, :class:`~magicpose.models.pose2vid.Pose2VidGenerator` as users run it
            (configs/pose2vid_local.yaml): local enhancer ngf 32 (global branch 64), 4 global downsamplings,
            9 global and 3 local ResNet blocks; sides must be multiples of 32, which 256, 512 and 288
            (= 9 x 32) all are;
  demo      pose2vid, a demo-sized local generator: ngf 16 (global 32), 3 global downsamplings, 4 global
            and 2 local blocks; sides multiples of 16;
  v2v_256p  vid2vid, :class:`~magicpose.models.vid2vid.Vid2VidGenerator` at the original's 256p pose2body
            sizes (scripts/pose/train_256p.sh on base_options' defaults): ngf 128, 3 downsamplings, 9
            blocks, 1 scale, n_frames_G 3, ``instance_affine`` norm (what its ``--norm batch`` computes at
            test time); 3-channel pose maps (as this package renders them; the original's 6 are DensePose +
            OpenPose, which changes only the first convolution); sides multiples of 8;
  v2v_demo  vid2vid at the demo's sizes (configs/demo_vid2vid.yaml): ngf 16, 3 downsamplings, 4 blocks;

at 256x256 and at 512x288 (width x height), it times the generator's recursion itself, over --frames
consecutive frames fed back, with the pose maps preprocessed outside the timer: pose2vid's frame t =
G(cat(pose_t, frame_{t-1})) from a zero frame; vid2vid's frame t from the last 3 pose maps (the window
starting filled with the first, as Vid2VidPipeline) and the 2 frames before it, frame 0 hallucinated from
zeros (``--no_first_img``), every later frame flow-warped:

  (a) eager under ``torch.no_grad()`` (what both pipelines' iter_frames do today);
  (b) ``torch.inference_mode()`` with the model and its inputs in channels-last memory format;
  (c) ``torch.compile`` of the generator (static shapes, ``torch.no_grad()``), two ways:
      ``compile``: default inductor settings, for the configurations in --compile-configs (default demo
      only: a cold compile of edn takes one to two minutes per size on 2 cores and was slower than eager
      here, so it would only break this script's ~5 minute budget; ``--compile-configs edn,demo`` runs it);
      ``compile_freezing``: with ``torch._inductor.config.freezing = True``, PyTorch's recommended CPU
      inference setting (weights become constants, folded and prepacked for oneDNN: inference only), for
      the configurations in --freezing-configs (default both).
      One child process per configuration and way, with a fresh inductor cache, compiles and times each
      size in turn, all under --compile-timeout; the first call's wall time at each size is ``<way>_s``,
      not part of frames/s. The child times the eager recursion interleaved with the compiled one, and
      ``ratio_<way>_over_eager`` compares those runs of the same process. A failure or time-out is a
      skipped entry (``<way>_fps`` null, ``<way>_skipped`` the reason);

plus (a) through the whole pipeline, ``list(Pose2VidPipeline.iter_frames(...))`` (Vid2VidPipeline's for
vid2vid) on uint8 pose maps at
twice the output size (as a video's pose maps would be: the centre crop, bilinear resize and uint8
conversion of each frame are timed), so its own overhead shows in ``ratio_pipeline_over_eager``.

Each variant is warmed up on one frame first; each timing is the minimum over --repeats interleaved runs.
Every ratio is a variant's frames/s over the eager recursion's frames/s (above 1: faster). Every variant is
checked against (a): ``max_abs_diff_*`` is the largest absolute difference between its frames and the eager
frames (floats in [-1, 1]; channels-last and inductor kernels differ by float rounding, which the recursion
feeds back), and ``max_abs_diff_pipeline_uint8`` compares the pipeline's uint8 frames with the eager frames
quantised the same way. ``<way>_break_even_frames`` is ``<way>_s`` over the seconds it saves per frame.
The CPU is shared: the JSON records the 1-minute load average at the start (other processes' work) and at
the end (ours included); timings taken while others hold a core are slower and noisier (interleaving and
the minimum keep the ratios usable, the absolute frames/s less so). ``vid2vid_over_pose2vid`` holds, for
every vid2vid and pose2vid configuration of the run, vid2vid's frames/s over pose2vid's at each size (eager,
each compiled way, the pipeline; None where either was not measured): configurations are timed one after
the other, not interleaved, so on a busy machine this ratio is noisier than the others. vid2vid's compile
time (``<way>_s``) covers its first two frames, since frame 0 (hallucinated only) is a graph of its own. A
table goes to stderr; the last line of stdout is one JSON object. ``--quick`` (the demo and v2v_demo
configurations, one frame, one repeat, no compile) runs in seconds; with ``--sizes 64x64`` in a few.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from results import record

from magicpose.image_utils import center_crop_resize
from magicpose.models.pose2vid import Pose2VidGenerator
from magicpose.models.vid2vid import Vid2VidGenerator
from magicpose.pipelines.frame_output import to_uint8
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline

ROOT = Path(__file__).resolve().parents[1]
# name: (generator family, its configuration); see the module notes
CONFIGS = {
    "edn": (
        "pose2vid",
        dict(architecture="local", ngf=32, n_downsample_global=4, n_blocks_global=9, n_blocks_local=3),
    ),
    "demo": (
        "pose2vid",
        dict(architecture="local", ngf=16, n_downsample_global=3, n_blocks_global=4, n_blocks_local=2),
    ),
    "v2v_256p": (
        "vid2vid",
        dict(ngf=128, n_downsample_G=3, n_blocks=9, n_frames_G=3, norm="instance_affine"),
    ),
    "v2v_demo": ("vid2vid", dict(ngf=16, n_downsample_G=3, n_blocks=4, n_frames_G=3)),
}
SEED = 0
CL = torch.channels_last
MODES = {"default": "compile", "freezing": "compile_freezing"}  # --mode of the compile child: its JSON key
# the frames/s compared between a vid2vid and a pose2vid configuration of the same run, at the same size
COMPARED = ("eager_fps", "compile_fps", "compile_freezing_fps", "pipeline_fps")


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def source_pose_maps(num_frames: int, width: int, height: int) -> list[np.ndarray]:
    """The embedded example pose maps (looped) as uint8 (H, W, 3) arrays at twice the output size."""
    files = sorted((ROOT / "example_data" / "poses").glob("*.png"))
    maps = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    return [center_crop_resize(maps[i % len(maps)], 2 * width, 2 * height) for i in range(num_frames)]


def pose_maps_at(maps: list[np.ndarray], width: int, height: int) -> list[torch.Tensor]:
    """Each pose map centre-cropped and resized as the pipelines do, as a (1, 3, H, W) uint8 tensor."""
    resized = (np.ascontiguousarray(center_crop_resize(m, width, height)) for m in maps)
    return [torch.from_numpy(r).permute(2, 0, 1)[None] for r in resized]


# ----------------------------------------------------------------------------------------------------------
# the two families: each prepares its inputs (outside the timer) and runs its recursion


def pose2vid_inputs(generator, maps: list[np.ndarray], width: int, height: int) -> list[torch.Tensor]:
    """The generator's inputs, preprocessed as Pose2VidPipeline.iter_frames does."""
    return [generator.pose_input(pose).contiguous() for pose in pose_maps_at(maps, width, height)]


def pose2vid_start(generator, inputs: list[torch.Tensor]) -> torch.Tensor:
    """The frame before frame 0: explicit zeros (as step's own), so that one graph serves every frame."""
    return torch.zeros_like(inputs[0])


def pose2vid_recursion(generator, poses: list[torch.Tensor], first: torch.Tensor) -> torch.Tensor:
    """``len(poses)`` consecutive frames, each fed back as the next step's previous frame; (F, 3, H, W)."""
    previous, frames = first, []
    for pose in poses:
        previous = generator(pose, previous)
        frames.append(previous)
    return torch.cat(frames)


def vid2vid_inputs(generator, maps: list[np.ndarray], width: int, height: int) -> list[torch.Tensor]:
    """Each frame's window of the last ``n_frames_G`` pose maps in [-1, 1], stacked on channels, the window
    starting filled with copies of the first map (as Vid2VidPipeline.iter_frames)."""
    singles = [pose.float() / 255.0 * 2 - 1 for pose in pose_maps_at(maps, width, height)]
    window, out = [singles[0]] * generator.config.n_frames_G, []
    for pose in singles:
        window = [*window[1:], pose]
        out.append(torch.cat(window, dim=1))
    return out


def vid2vid_start(generator, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """The frames before frame 0: zeros at every scale (``--no_first_img``)."""
    height, width = inputs[0].shape[-2:]
    return generator.initial_previous(1, height, width)


def vid2vid_recursion(generator, windows: list[torch.Tensor], previous: list[torch.Tensor]) -> torch.Tensor:
    """``len(windows)`` consecutive frames, frame 0 hallucinated, each later one warped from the frames before
    it; (F, 3, H, W)."""
    frames = []
    for i, window in enumerate(windows):
        step = generator(window, previous, use_raw_only=i == 0)
        previous = generator.next_previous(previous, step)
        frames.append(step.frame)
    return torch.cat(frames)


class Family(NamedTuple):
    generator: type
    pipeline: type
    inputs: Callable  # (generator, uint8 maps, width, height) -> one input per frame
    start: Callable  # (generator, inputs) -> what the recursion starts from
    recursion: Callable  # (generator, inputs, start) -> (F, 3, H, W) frames
    compile_frames: (
        int  # frames whose first run compiles every graph (vid2vid: frame 0 is a graph of its own)
    )


FAMILIES = {
    "pose2vid": Family(
        Pose2VidGenerator, Pose2VidPipeline, pose2vid_inputs, pose2vid_start, pose2vid_recursion, 1
    ),
    "vid2vid": Family(Vid2VidGenerator, Vid2VidPipeline, vid2vid_inputs, vid2vid_start, vid2vid_recursion, 2),
}


def family_of(name: str) -> Family:
    return FAMILIES[CONFIGS[name][0]]


def build_generator(name: str):
    torch.manual_seed(SEED)  # the compile child rebuilds the same weights
    family, config = CONFIGS[name]
    return FAMILIES[family].generator(**config).eval()


def channels_last(x):
    """A tensor, or each tensor of a list, in channels-last memory format."""
    return [channels_last(t) for t in x] if isinstance(x, list) else x.contiguous(memory_format=CL)


def quantise(frames: torch.Tensor) -> torch.Tensor:
    """As both pipelines' iter_frames (frame_output.to_uint8): [-1, 1] floats -> uint8, (F, H, W, 3)."""
    return torch.stack([to_uint8(frame) for frame in frames])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def time_variants(variants: dict, frames: int, repeats: int) -> tuple[dict[str, float], dict, dict]:
    """Each ``variants`` function (count -> frames) warmed up on 1 frame, then timed ``repeats`` times in turn
    (interleaved, so a busy machine slows all alike): frames/s from each one's fastest run, the outputs of
    the last round, and every run's seconds."""
    for warm_up in variants.values():
        warm_up(1)
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs = {}
    for _ in range(repeats):
        for name, fn in variants.items():
            t, outputs[name] = timed(fn)
            times[name].append(t)
    return {name: frames / min(v) for name, v in times.items()}, outputs, times


# ----------------------------------------------------------------------------------------------------------
# (c) torch.compile, in a child process


def compile_child(args) -> None:
    """Compile the generator (``--mode`` default or freezing) and, size by size, time it interleaved with
    eager; each size's report and frames go to ``--out`` as soon as they exist, so a time-out keeps the sizes
    already done."""
    if args.mode == "freezing":
        # inference-only: the weights become constants (folded, prepacked for oneDNN) when it compiles
        torch._inductor.config.freezing = True
    generator, family = build_generator(args.compile_child), family_of(args.compile_child)
    compiled = torch.compile(generator, dynamic=False)  # each size compiles its own graph on its first call
    for size in args.sizes.split(","):
        width, height = parse_size(size)
        poses = family.inputs(generator, source_pose_maps(args.frames, width, height), width, height)
        first = family.start(generator, poses)
        warm = poses[: family.compile_frames]
        times = {"compiled": [], "eager": []}
        with torch.no_grad():
            compile_s, _ = timed(lambda: family.recursion(compiled, warm, first))  # noqa: B023 (called at once)
            family.recursion(compiled, warm, first)  # warm-up (same shapes: no recompilation)
            family.recursion(generator, warm, first)
            for _ in range(args.repeats):
                t, frames = timed(lambda: family.recursion(compiled, poses, first))  # noqa: B023
                times["compiled"].append(t)
                t, _ = timed(lambda: family.recursion(generator, poses, first))  # noqa: B023
                times["eager"].append(t)
        out = Path(args.out)
        torch.save(frames, out / f"{size}.pt")
        (out / f"{size}.json").write_text(json.dumps({"compile_s": compile_s, "times": times}))


def run_compile(name: str, mode: str, sizes: list[str], args, work: Path) -> dict[str, tuple]:
    """{size: (report, frames, None) or (None, None, reason)} from one child process for ``name``."""
    out = work / f"compiled-{name}-{mode}"
    out.mkdir()
    cmd = [
        sys.executable,
        __file__,
        "--compile-child",
        name,
        "--mode",
        mode,
        "--sizes",
        ",".join(sizes),
        "--frames",
        str(args.frames),
        "--repeats",
        str(args.repeats),
        "--out",
        str(out),
    ]
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(out / "inductor-cache")}  # a cold compile
    reason = None
    # its own session, so that a time-out also ends the compile workers it started
    child = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        _, stderr = child.communicate(timeout=args.compile_timeout)
        if child.returncode != 0:
            lines = [line for line in stderr.strip().splitlines() if line.strip()]
            reason = f"failed (exit {child.returncode}): {lines[-1][:300] if lines else 'no message'}"
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        reason = (
            f"timed out: the compile child ({', '.join(sizes)} in turn) ran past --compile-timeout "
            f"{args.compile_timeout:.0f} s"
        )
    results = {}
    for size in sizes:
        if (out / f"{size}.json").exists():
            report = json.loads((out / f"{size}.json").read_text())
            results[size] = (report, torch.load(out / f"{size}.pt"), None)
        else:
            results[size] = (None, None, reason or "no result from the compile child")
    return results


# ----------------------------------------------------------------------------------------------------------
# the parent: (a), (b) and the pipeline, interleaved


def bench_size(name: str, generator, size: str, args) -> tuple[dict, torch.Tensor]:
    """(a), (b) and the pipeline at ``size``, interleaved; the row and the eager frames."""
    family = family_of(name)
    width, height = parse_size(size)
    maps = source_pose_maps(args.frames, width, height)
    poses = family.inputs(generator, maps, width, height)
    first = family.start(generator, poses)
    generator_cl = copy.deepcopy(generator).to(memory_format=CL)
    poses_cl, first_cl = channels_last(poses), channels_last(first)
    pipe = family.pipeline(generator=generator)

    def eager(count=args.frames):
        with torch.no_grad():
            return family.recursion(generator, poses[:count], first)

    def in_channels_last(count=args.frames):
        with torch.inference_mode():
            return family.recursion(generator_cl, poses_cl[:count], first_cl)

    def pipeline(count=args.frames):
        return np.stack(list(pipe.iter_frames(maps[:count], height, width)))

    variants = {"eager": eager, "channels_last": in_channels_last, "pipeline": pipeline}
    fps, outputs, times = time_variants(variants, args.frames, args.repeats)
    ref, cl, piped = outputs["eager"], outputs["channels_last"], outputs["pipeline"]
    row = {
        "eager_fps": fps["eager"],
        "inference_mode_channels_last_fps": fps["channels_last"],
        "pipeline_fps": fps["pipeline"],
        "ratio_inference_mode_channels_last_over_eager": fps["channels_last"] / fps["eager"],
        "ratio_pipeline_over_eager": fps["pipeline"] / fps["eager"],
        "max_abs_diff_inference_mode_channels_last": (cl.contiguous() - ref).abs().max().item(),
        "max_abs_diff_pipeline_uint8": int((torch.from_numpy(piped).int() - quantise(ref).int()).abs().max()),
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }
    for mode in MODES.values():
        row.update(
            {
                f"{mode}_fps": None,
                f"ratio_{mode}_over_eager": None,
                f"max_abs_diff_{mode}": None,
                f"{mode}_s": None,
                f"{mode}_break_even_frames": None,
                f"{mode}_skipped": None,
            }
        )
    return row, ref


def add_compile(
    row: dict,
    mode: str,
    ref: torch.Tensor,
    report: dict | None,
    frames: torch.Tensor | None,
    reason: str | None,
    num_frames: int,
) -> None:
    key = MODES[mode]
    if report is None:
        row[f"{key}_skipped"] = reason
        return
    compiled_fps = num_frames / min(report["times"]["compiled"])
    child_eager_fps = num_frames / min(report["times"]["eager"])
    saved_per_frame = 1 / child_eager_fps - 1 / compiled_fps
    break_even = report["compile_s"] / saved_per_frame if saved_per_frame > 0 else None
    row.update(
        {
            f"{key}_fps": compiled_fps,
            f"ratio_{key}_over_eager": compiled_fps / child_eager_fps,
            f"max_abs_diff_{key}": (frames - ref).abs().max().item(),
            f"{key}_s": report["compile_s"],
            f"{key}_break_even_frames": break_even,
        }
    )
    row["seconds"].update({f"{key}_child_{k}": [round(x, 3) for x in v] for k, v in report["times"].items()})


def rounded(value):
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def fmt(value, spec: str) -> str:
    """``format(value, spec)``, or a dash as wide as the spec's width for None."""
    return format(value, spec) if value is not None else "-".rjust(int(spec.split(".")[0] or 0))


def table(result: dict) -> None:
    head = (
        f"{'config':8s} {'size':>8s} | {'eager':>6s} | {'im+cl':>6s} {'ratio':>5s} {'max|d|':>7s} | "
        f"{'compile':>7s} {'ratio':>5s} {'max|d|':>7s} {'comp s':>6s} | "
        f"{'frozen':>7s} {'ratio':>5s} {'max|d|':>7s} {'comp s':>6s} | "
        f"{'pipe':>6s} {'ratio':>5s} {'uint8':>5s}"
    )
    log(
        "frames/s; ratio: frames/s over the eager frames/s (compile: over the eager runs of its own "
        "process); max|d|: largest |frame - eager frame| (frames in [-1, 1]); comp s: first call at that "
        "size; frozen: compile with inductor freezing; uint8: pipeline frames vs eager quantised"
    )
    log(head)
    log("-" * len(head))
    skipped = []
    for name, entry in result["configs"].items():
        for size, row in entry.items():
            if not isinstance(row, dict) or "eager_fps" not in row:
                continue
            cells = [
                f"{name:8s} {size:>8s}",
                f"{row['eager_fps']:6.3f}",
                f"{row['inference_mode_channels_last_fps']:6.3f} "
                f"{row['ratio_inference_mode_channels_last_over_eager']:5.2f} "
                f"{row['max_abs_diff_inference_mode_channels_last']:7.1e}",
            ]
            for key in MODES.values():
                cells.append(
                    f"{fmt(row[f'{key}_fps'], '7.3f')} "
                    f"{fmt(row[f'ratio_{key}_over_eager'], '5.2f')} "
                    f"{fmt(row[f'max_abs_diff_{key}'], '7.1e')} {fmt(row[f'{key}_s'], '6.0f')}"
                )
                if row[f"{key}_skipped"]:
                    skipped.append(f"  {key} skipped for {name} {size}: {row[f'{key}_skipped']}")
            cells.append(
                f"{row['pipeline_fps']:6.3f} {row['ratio_pipeline_over_eager']:5.2f} "
                f"{row['max_abs_diff_pipeline_uint8']:5d}"
            )
            log(" | ".join(cells))
    for line in skipped:
        log(line)


def skip_reason(name: str, mode: str, to_compile: dict, args) -> str | None:
    """Why ``name`` is not compiled the ``mode`` way in this run (None: it is)."""
    if args.no_compile:
        return "--quick" if args.quick else "--no-compile"
    if name not in to_compile[mode]:
        flag = "--compile-configs" if mode == "default" else "--freezing-configs"
        return f"not in {flag} {','.join(to_compile[mode])!r}"
    return None


def bench_config(name: str, sizes: list[str], to_compile: dict, args, work: Path, started: float) -> dict:
    """Every variant of configuration ``name`` at every size: its entry of the JSON."""
    generator = build_generator(name)
    family, config = CONFIGS[name]
    params = sum(p.numel() for p in generator.parameters())
    entry = {
        "family": family,
        "params": params,
        "generator": config,
        "size_multiple": generator.size_multiple,
    }
    log(
        f"{name}: {family}, {params / 1e6:.1f}M params, sides multiples of {generator.size_multiple}, {config}"
    )
    refs = {}
    for size in sizes:
        width, height = parse_size(size)
        if width % generator.size_multiple or height % generator.size_multiple:
            raise SystemExit(f"{size} is not a multiple of {generator.size_multiple} for {name}")
        entry[size], refs[size] = bench_size(name, generator, size, args)
        log(f"  {size}: eager {entry[size]['eager_fps']:.3f} fps ({time.perf_counter() - started:.0f} s)")
    del generator
    for mode, key in MODES.items():
        reason = skip_reason(name, mode, to_compile, args)
        if reason:
            for size in sizes:
                entry[size][f"{key}_skipped"] = reason
            continue
        for size, (report, frames, reason) in run_compile(name, mode, sizes, args, work).items():
            add_compile(entry[size], mode, refs[size], report, frames, reason, args.frames)
            log(
                f"  {size}: {key} {fmt(entry[size][f'{key}_fps'], '.3f')} fps "
                f"({time.perf_counter() - started:.0f} s)"
            )
    return entry


def vid2vid_over_pose2vid(configs: dict, sizes: list[str]) -> dict:
    """{"<vid2vid config>_over_<pose2vid config>": {size: {frames/s key: ratio}}} for every pair of this run
    (None where either side has no figure, e.g. a configuration not compiled)."""
    by_family = {f: [n for n, e in configs.items() if e["family"] == f] for f in FAMILIES}
    ratios = {}
    for v2v in by_family["vid2vid"]:
        for p2v in by_family["pose2vid"]:
            ratios[f"{v2v}_over_{p2v}"] = {
                size: {
                    key: configs[v2v][size][key] / configs[p2v][size][key]
                    if configs[v2v][size][key] and configs[p2v][size][key]
                    else None
                    for key in COMPARED
                }
                for size in sizes
            }
    return ratios


def ratio_table(ratios: dict) -> None:
    if not ratios:
        return
    log("vid2vid frames/s over pose2vid frames/s, same size, same run (below 1: vid2vid is slower)")
    log(f"{'pair':24s} {'size':>8s} | " + " ".join(f"{k.removesuffix('_fps'):>16s}" for k in COMPARED))
    for pair, by_size in ratios.items():
        for size, row in by_size.items():
            log(f"{pair:24s} {size:>8s} | " + " ".join(fmt(row[k], "16.3f") for k in COMPARED))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=2, help="consecutive frames per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", default="edn,demo,v2v_256p,v2v_demo", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--sizes", default="256x256,512x288", help="WIDTHxHEIGHT, comma-separated")
    parser.add_argument(
        "--compile-configs",
        default="demo,v2v_demo",
        help="configurations to torch.compile with default settings",
    )
    parser.add_argument(
        "--freezing-configs",
        default="edn,demo,v2v_256p,v2v_demo",
        help="configurations to torch.compile with torch._inductor.config.freezing",
    )
    parser.add_argument(
        "--compile-timeout",
        type=float,
        default=300.0,
        help="seconds for one configuration's compile child (all its sizes)",
    )
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the demo configurations (demo, v2v_demo), 1 frame, 1 repeat, no compile",
    )
    parser.add_argument("--compile-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="default", choices=tuple(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_child:
        compile_child(args)
        return
    if args.quick:
        args.configs, args.frames, args.repeats, args.no_compile = "demo,v2v_demo", 1, 1, True
    names, sizes = args.configs.split(","), args.sizes.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {', '.join(unknown)} (known: {', '.join(CONFIGS)})")
    to_compile = {"default": args.compile_configs.split(","), "freezing": args.freezing_configs.split(",")}

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    log(
        f"pose2vid and vid2vid inference, {args.frames} consecutive frames per timed run, min over "
        f"{args.repeats} repeats, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    result = {"configs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            result["configs"][name] = bench_config(name, sizes, to_compile, args, Path(tmp), started)
    result["vid2vid_over_pose2vid"] = vid2vid_over_pose2vid(result["configs"], sizes)
    result.update(
        frames=args.frames,
        repeats=args.repeats,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        total_s=time.perf_counter() - started,
        loadavg_1min={"start": load_start, "end": os.getloadavg()[0]},
    )
    table(result)
    ratio_table(result["vid2vid_over_pose2vid"])
    log(
        f"total {result['total_s']:.0f} s; 1-minute load average {load_start:.2f} at the start "
        f"(others' work), "
        f"{result['loadavg_1min']['end']:.2f} at the end (ours included)"
        + (
            "; other processes held a core or more: absolute frames/s are low and noisy, the interleaved "
            "ratios less so"
            if load_start > 1
            else ""
        )
    )
    print(json.dumps(rounded(result)))
    record("bench_gan", rounded(result))


if __name__ == "__main__":
    main()
