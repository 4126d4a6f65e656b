"""benchmarks/bench_gpu.py: refuses to run without CUDA, and its --smoke mode runs every section on the CPU."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_gpu.py"
# One thread: the tiny models gain nothing from more, and a busy 2-core machine made OpenMP's threads crawl.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}

STAGES = ("appearance", "pose_control")
SECTIONS = (
    "prepare",
    "inference.fp16",
    "inference.original",
    "memory",
    "cpu_offload",
    "inference.bf16",
    *(f"training.{s}.checkpointing_{c}" for s in STAGES for c in ("on", "off")),
)
# Keys every run reports, with a positive finite number on the CPU too (the memory keys may hold None there).
TIMINGS = (
    *(f"inference.{d}.s_per_frame.fpb{n}" for d in ("fp16", "bf16") for n in (1, 4, 16)),
    "inference.original.s_per_frame",
    "inference.pipeline_over_original",
    "cpu_offload.s_per_frame",
    *(
        f"training.{s}.checkpointing_{c}.{k}"
        for s in STAGES
        for c in ("on", "off")
        for k in ("samples_per_s", "s_per_step", "final_export_s")
    ),
    *(f"training.{s}.checkpointing_on.{k}" for s in STAGES for k in ("validation_s", "export_s")),
    "total_s",
)
MEMORY = (
    "memory.peak_gib_16_frames",
    "memory.peak_gib_64_frames",
    "memory.peak_ratio_64_over_16",
    "cpu_offload.peak_gib",
    *(f"training.{s}.checkpointing_{c}.peak_gib" for s in STAGES for c in ("on", "off")),
)


def _lookup(result: dict, key: str):
    node = result
    for part in key.split("."):
        assert isinstance(node, dict) and part in node, f"{key} missing (no {part!r})"
        node = node[part]
    return node


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_cuda_it_exits_2_with_one_error_line():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "CUDA" in lines[0], done.stderr
    assert done.stdout == ""


def test_smoke_runs_every_section_and_ends_with_the_full_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--json-out", str(out)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == result
    assert result["smoke"] is True and result["failed_sections"] == []
    for key in ("device", "torch", "diffusers"):
        assert isinstance(result[key], str) and result[key]
    for key in TIMINGS:
        value = _lookup(result, key)
        assert isinstance(value, float | int) and math.isfinite(value) and value > 0, (key, value)
    for name in SECTIONS:  # wall time per section, keyed by the section's name
        assert result["section_s"][name] > 0, name
    for key in MEMORY:
        assert _lookup(result, key) is None  # CPU: no GPU memory figures
    assert result["inference"]["fp16"]["latents_finite"] and result["inference"]["bf16"]["latents_finite"]
    assert not Path(result["work_dir"]).exists()  # training outputs and the work folder are cleaned up
