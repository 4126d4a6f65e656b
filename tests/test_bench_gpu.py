"""benchmarks/bench_gpu.py: refuses to run without CUDA, and its --smoke mode runs every section on the CPU."""

import importlib
import json
import math
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_gpu.py"

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


@pytest.fixture
def bench_gpu(monkeypatch):
    """The script's module, run in this process (a Python start-up and torch import cheaper than a subprocess):
    what its main sets in the environment is put back afterwards, and accelerate's per-process state is reset
    around its training sections."""
    from accelerate.state import AcceleratorState

    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # its sibling module sampling.py imports by name
    for name in ("ACCELERATE_USE_CPU", "TQDM_DISABLE"):  # main sets them; monkeypatch restores them
        monkeypatch.delenv(name, raising=False)
    AcceleratorState._reset_state(reset_partial_state=True)
    yield importlib.import_module("bench_gpu")
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_cuda_it_exits_2_with_one_error_line(bench_gpu, capsys):
    assert bench_gpu.main([]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "CUDA" in lines[0], err
    assert out == ""


@pytest.mark.slow  # every section once: seconds
def test_smoke_runs_every_section_and_ends_with_the_full_json(bench_gpu, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_gpu.main(["--smoke", "--json-out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
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
