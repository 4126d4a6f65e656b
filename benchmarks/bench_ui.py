"""The web page's overhead: the embedded example through `magicpose ui` in a real browser against the same job
through `magicpose infer`, side by side in one run.

    python benchmarks/bench_ui.py [--steps 20] [--repeats 3] [--out outputs/bench_ui]

The job: the example's reference and its 16 poses (uploaded through the page, as a user would), the demo
weights, --steps DDIM steps, seed 42, on the CPU.

- page: the app is served from this process (`magicpose ui`'s own launch(), its weights loaded at start-up as
  the command does), and Debian's chromium, headless, driven by Playwright, uploads the files and clicks Generate.
  Timed from the click to the first progress bar drawn in the page ("denoising: step N of M"), and to the
  result's <video> element in the page. The same page serves every repeat (the weights stay loaded).
- the page's job without the browser: the page's JobRunner.run called directly in this process (server up).
- infer: `magicpose infer` as a fresh process with the same options (it loads Python, torch and the weights every
  time). Timed from the start of the process to the first step on its progress bar (tqdm's " 1/N" on stderr),
  and to its exit.

The three are interleaved --repeats times and the medians reported, because this shared 2-core machine's speed
drifts by tens of percent from one minute to the next. Prints one table and ends with one JSON line; ratios are
over infer's (below 1: faster than infer, mostly because the page keeps the weights loaded). Needs gradio and playwright (pip install -e '.[dev]') and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

from headless_chromium import free_port, launch_chromium
from results import record

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example_data"


def time_infer(steps: int, out: Path) -> dict:
    """Seconds from starting `magicpose infer` to its first denoising step and to its exit."""
    command = [
        sys.executable,
        "-m",
        "magicpose.cli",
        "infer",
        "--steps",
        str(steps),
        "--device",
        "cpu",
        "--output",
        str(out / "infer.mp4"),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=ROOT)
    first_step, seen = None, b""
    while process.poll() is None:
        ready, _, _ = select.select([process.stderr], [], [], 0.05)
        if ready:
            seen += os.read(process.stderr.fileno(), 65536)
            if first_step is None and re.search(rb"\| 1/%d " % steps, seen):
                first_step = time.perf_counter() - started
    seen += process.stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"magicpose infer failed: {seen.decode(errors='replace')[-2000:]}")
    return {"first_progress_s": first_step, "video_s": time.perf_counter() - started}


def time_job_alone(runner, steps: int) -> dict:
    """The page's job without the browser (JobRunner.run called directly, weights loaded, the server still up):
    splits the page's overhead into the job's own and the browser's."""
    from magicpose.infer import DEFAULT_IMAGE
    from magicpose.ui.jobs import JobForm

    first = []
    started = time.perf_counter()
    runner.run(
        JobForm(str(DEFAULT_IMAGE), steps=steps),
        log=lambda line: None,
        progress=lambda done, total, stage: (
            first.append(time.perf_counter() - started) if not first else None
        ),
    )
    return {"first_progress_s": first[0], "video_s": time.perf_counter() - started}


class Page:
    """The page served from this process, in headless chromium, the example uploaded."""

    def __init__(self, playwright, steps: int, out: Path) -> None:
        from magicpose.ui.app import launch
        from magicpose.ui.jobs import UIConfig

        started = time.perf_counter()
        self.demo, url, self.runner = launch(
            UIConfig(output_dir=out / "page", device="cpu"), port=free_port(), block=False
        )
        self.startup_s = time.perf_counter() - started
        self.browser = launch_chromium(playwright)
        page = self.page = self.browser.new_page()
        page.set_default_timeout(600_000)
        page.goto(url)
        page.locator("#reference button[aria-label='Remove Image']").click()
        page.locator("#reference input[type=file]").set_input_files(str(EXAMPLE / "reference.png"))
        poses = sorted((EXAMPLE / "poses").glob("*.png"))
        page.locator("#driving input[type=file]").set_input_files([str(p) for p in poses])
        page.locator(f"#driving td.filename[aria-label='{poses[-1].name}']").wait_for(state="attached")
        page.locator("#steps input[type=number]").fill(str(steps))
        page.locator("#steps input[type=number]").press("Enter")

    def time_job(self) -> dict:
        """Seconds from clicking Generate to the first progress bar drawn in the page and to its result video."""
        jobs = len(self.runner.history)
        clicked = time.perf_counter()
        self.page.locator("#generate").click()
        self.page.locator("[role=progressbar][aria-label^='denoising: step']").first.wait_for()
        first = time.perf_counter() - clicked
        self.page.wait_for_function(
            "document.querySelector('#result video') && "
            "document.querySelector('#status textarea').value.includes('wrote ')"
        )
        done = time.perf_counter() - clicked
        assert len(self.runner.history) == jobs + 1 and self.runner.history[-1].outcome == "done"
        return {"first_progress_s": first, "video_s": done}

    def close(self) -> None:
        self.browser.close()
        self.demo.close()


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_ui")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    runs: dict[str, list[dict]] = {"infer": [], "page": [], "alone": []}
    with sync_playwright() as playwright:
        page = Page(playwright, args.steps, args.out)
        for _ in range(
            args.repeats
        ):  # interleaved, so that a slower minute of this shared machine hits all three
            runs["infer"].append(time_infer(args.steps, args.out))
            runs["page"].append(page.time_job())
            runs["alone"].append(time_job_alone(page.runner, args.steps))
        page.close()
    names = {
        "infer": "magicpose infer (a new process each time)",
        "page": "the page (click to result)",
        "alone": "the page's job without the browser",
    }
    base = {key: median(runs["infer"], key) for key in ("first_progress_s", "video_s")}
    print(
        f"\n{args.steps} steps, 16 frames at 64x64 (the embedded example), CPU, median of {args.repeats} "
        f"interleaved runs; page start-up (weights loaded once): {page.startup_s:.1f} s\n"
    )
    print("| run | to first progress (s) | to the video (s) | first progress / infer's | video / infer's |")
    print("|---|---|---|---|---|")
    report = {"steps": args.steps, "repeats": args.repeats, "page_startup_s": page.startup_s, "runs": runs}
    for key, name in names.items():
        first, video = median(runs[key], "first_progress_s"), median(runs[key], "video_s")
        report[f"{key}_ratios"] = {
            "first_progress": first / base["first_progress_s"],
            "video": video / base["video_s"],
        }
        print(
            f"| {name} | {first:.2f} | {video:.1f} | {first / base['first_progress_s']:.3f} | "
            f"{video / base['video_s']:.3f} |"
        )
    print(json.dumps(report))
    record("bench_ui", report)


if __name__ == "__main__":
    main()
