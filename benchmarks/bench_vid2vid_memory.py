"""Is Vid2VidPipeline's streaming flat in memory? Peak resident memory producing a short and a long video.

    python benchmarks/bench_vid2vid_memory.py [--lengths 16,256] [--size 128x128] [--config v2v_demo] [--quick]

For each length in --lengths (frames) and two ways of consuming the pipeline, a fresh child process builds a
randomly initialised :class:`~magicpose.models.vid2vid.Vid2VidGenerator` (--config, one of
benchmarks/bench_gan.py's vid2vid configurations; default ``v2v_demo``, the demo's size: ngf 16, 3
downsamplings, 4 blocks, 1 scale) and the example pose maps, looped by reference (so the input list itself
costs nothing per frame), runs two frames as a warm-up, then measures:

  streamed   ``for frame in pipe.iter_frames(...)``, each uint8 frame dropped once seen (what ``magicpose
             infer`` does: frames go to the video writer one by one);
  collected  ``pipe(..., output_type="np")``, which keeps every frame: the control, showing that the
             measurement sees memory that does grow with the number of frames.

The figure is the peak resident set size (VmHWM, reset through /proc/self/clear_refs after the warm-up)
minus the resident size just before the run, in MiB: the real memory of the process, torch's CPU
allocations included (tracemalloc would see only Python's own allocations, and torch's allocator statistics
exist for CUDA only). Linux only. The ratio is the longest length's figure over the shortest's: about 1 is
flat; the collected control grows with the frames' bytes (length x H x W x 3 x 4 for float32 frames, plus
the uint8 list). Because a peak of a few MiB makes that ratio noisy, the growth per extra frame (KiB) is
given too, beside one uint8 frame's size: flat streaming grows by a small fraction of a frame. The CPU is shared with other jobs: the JSON records the 1-minute load average at the start
and the end; memory figures do not depend on it, the frames/s do. ``--quick`` (4 and 16 frames at 64x64, two children at a time)
runs in seconds. The last line of stdout is one JSON object; it is also written to
benchmarks/results/bench_vid2vid_memory.json with the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from results import record

WAYS = ("streamed", "collected")
MIB = 1024 * 1024


def status_kib(field: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> None:
    """Make VmHWM start again from the current resident size (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def looped_maps(length: int, width: int, height: int) -> list:
    """``length`` references to the few example pose maps (twice the output size, as bench_gan.py's)."""
    from bench_gan import source_pose_maps

    base = source_pose_maps(4, width, height)
    return [base[i % len(base)] for i in range(length)]


def child(config: str, way: str, length: int, width: int, height: int) -> dict:
    """One measurement in this (fresh) process."""
    import torch
    from bench_gan import CONFIGS, build_generator

    from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline

    if CONFIGS[config][0] != "vid2vid":
        raise SystemExit(f"--config {config} is not a vid2vid configuration")
    pipe = Vid2VidPipeline(generator=build_generator(config))
    maps = looped_maps(length, width, height)
    for _ in pipe.iter_frames(maps[:2], height, width):  # warm-up: kernels, allocator pools
        pass
    gc.collect()
    baseline = status_kib("VmRSS")
    reset_peak()
    started = time.perf_counter()
    if way == "streamed":
        checksum = 0
        for frame in pipe.iter_frames(maps, height, width):
            checksum += int(frame[0, 0, 0])  # seen, then dropped
    else:
        frames = pipe(maps, height=height, width=width, output_type="np").frames
        assert frames.shape[0] == length
    seconds = time.perf_counter() - started
    peak = status_kib("VmHWM")
    return {
        "baseline_mib": baseline / 1024,
        "peak_mib": peak / 1024,
        "delta_mib": (peak - baseline) / 1024,
        "fps": length / seconds,
        "threads": torch.get_num_threads(),
    }


def measure(config: str, way: str, length: int, size: str) -> dict:
    """:func:`child` in a fresh interpreter, so that nothing of an earlier measurement stays resident."""
    command = [sys.executable, __file__, "--child", way, "--config", config, "--size", size]
    done = subprocess.run([*command, "--lengths", str(length)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {way} child for {length} frames failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", default="16,256", help="video lengths in frames, comma-separated")
    parser.add_argument("--size", default="128x128", help="WIDTHxHEIGHT of the frames")
    parser.add_argument("--config", default="v2v_demo", help="a vid2vid configuration of bench_gan.py")
    parser.add_argument("--quick", action="store_true", help="4 and 16 frames at 64x64")
    parser.add_argument("--child", choices=WAYS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.size = "4,16", "64x64"
    lengths = sorted(int(n) for n in args.lengths.split(","))
    width, height = parse_size(args.size)
    if args.child:
        print(json.dumps(child(args.config, args.child, lengths[0], width, height)))
        return
    if len(lengths) < 2 or lengths[0] < 1:
        parser.error("--lengths needs two or more positive lengths")

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    result = {
        "config": args.config,
        "size": args.size,
        "lengths": lengths,
        "uint8_frame_kib": width * height * 3 / 1024,
        "ways": {},
    }
    # --quick (a smoke run) runs its children two at a time: peaks are per process, but its frames/s then
    # share the cores; a full run measures one child at a time
    runs = [(way, length) for way in WAYS for length in lengths]
    with ThreadPoolExecutor(max_workers=2 if args.quick else 1) as pool:
        measured = dict(
            zip(runs, pool.map(lambda run: measure(args.config, *run, args.size), runs), strict=True)
        )
    for way in WAYS:
        rows = {}
        for length in lengths:
            rows[str(length)] = measured[way, length]
            print(
                f"{way:9s} {length:5d} frames: peak {rows[str(length)]['delta_mib']:8.1f} MiB above the "
                f"{rows[str(length)]['baseline_mib']:.0f} MiB before it, {rows[str(length)]['fps']:.2f} frames/s",
                file=sys.stderr,
                flush=True,
            )
        shortest, longest = rows[str(lengths[0])]["delta_mib"], rows[str(lengths[-1])]["delta_mib"]
        rows["ratio_longest_over_shortest"] = longest / shortest if shortest > 0 else None
        # near-zero peaks make the ratio noisy: the growth per extra frame, against one frame's bytes, is not
        rows["growth_kib_per_extra_frame"] = (longest - shortest) * 1024 / (lengths[-1] - lengths[0])
        result["ways"][way] = rows
    result.update(
        total_s=time.perf_counter() - started,
        loadavg_1min={"start": load_start, "end": os.getloadavg()[0]},
    )
    for way in WAYS:
        ratio = result["ways"][way]["ratio_longest_over_shortest"]
        growth = result["ways"][way]["growth_kib_per_extra_frame"]
        print(
            f"{way}: peak memory for {lengths[-1]} frames over {lengths[0]} frames: "
            + (f"x{ratio:.2f}" if ratio is not None else "undefined (no growth at the shortest length)")
            + f"; {growth:.1f} KiB more per extra frame (one uint8 frame: {result['uint8_frame_kib']:.0f} KiB)",
            file=sys.stderr,
        )
    print(json.dumps(result))
    record("bench_vid2vid_memory", result)


if __name__ == "__main__":
    main()
