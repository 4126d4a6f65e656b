"""bench_mraa.py (issue 23's speed point): its configurations are the ones it claims, the compiled path's check
against eager flags frames off by more than the tolerance, and its quick mode records every row and ratio,
consistent, with the machine (in a temporary folder: $MAGICPOSE_BENCH_RESULTS keeps the kept results intact).
Timings are not checked: they depend on the machine."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from magicpose.training.mraa_config import MRAATrainingConfig, load_mraa_config, size_multiple

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture
def bench_mraa(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its sibling modules (bench_gan, results) import by name
    return importlib.import_module("bench_mraa")


def _positive(value) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


def test_configs_are_the_originals_256_networks_and_the_demos(bench_mraa) -> None:
    original = load_mraa_config(None, bench_mraa.PLACEHOLDERS)
    assert original.model == MRAATrainingConfig().model  # mraa_config's defaults: the original's 256x256 ones
    m = original.model
    assert (m.num_regions, m.regions.block_expansion, m.regions.max_features, m.regions.num_blocks) == (
        10,
        32,
        1024,
        5,
    )
    assert (m.flow.block_expansion, m.flow.max_features, m.flow.num_blocks, m.flow.scale_factor) == (
        64,
        1024,
        5,
        0.25,
    )
    g = m.generator
    assert (g.block_expansion, g.max_features, g.num_down_blocks, g.num_bottleneck_blocks) == (64, 512, 2, 6)
    assert bench_mraa.CONFIGS["mraa_256"][1] == "256x256"
    demo_path, demo_size = bench_mraa.CONFIGS["mraa_demo"]
    assert demo_path == ROOT / "configs" / "demo_mraa.yaml" and demo_size == "64x64"
    for path, size in bench_mraa.CONFIGS.values():
        cfg = load_mraa_config(path, bench_mraa.PLACEHOLDERS)
        width, height = (int(v) for v in size.split("x"))
        assert width == height == cfg.data.size and width % size_multiple(cfg) == 0, path


def _row() -> dict:
    return {
        "seconds": {},
        **{k: None for k in ("compile_fps", "compile_matches_eager", "compile_skipped")},
    }


def test_add_compile_checks_the_compiled_frames_against_eager(bench_mraa) -> None:
    ref = torch.rand(2, 3, 8, 8)
    report = {"compile_s": 10.0, "times": {"compiled": [0.5, 0.4], "eager": [1.0, 0.8]}}  # 2 frames
    row = _row()
    bench_mraa.add_compile(row, ref, report, ref + bench_mraa.TOLERANCE / 2, None, 2)
    assert row["compile_fps"] == pytest.approx(5.0) and row["ratio_compile_over_eager"] == pytest.approx(2.0)
    assert row["max_abs_diff_compile"] == pytest.approx(bench_mraa.TOLERANCE / 2, rel=1e-3)  # float32 sums
    assert row["compile_matches_eager"] is True and row["max_abs_diff_compile_uint8"] <= 1
    assert row["compile_break_even_frames"] == pytest.approx(
        10.0 / (0.4 - 0.2)
    )  # compile_s / s saved a frame
    assert row["seconds"]["compile_child_compiled"] == [0.5, 0.4]

    off = _row()
    bench_mraa.add_compile(off, ref, report, (ref + 0.1).clamp(0, 1), None, 2)
    assert off["compile_matches_eager"] is False and off["max_abs_diff_compile_uint8"] > 0

    slower = _row()
    slow_report = {"compile_s": 10.0, "times": {"compiled": [2.0], "eager": [1.0]}}
    bench_mraa.add_compile(slower, ref, slow_report, ref, None, 2)
    assert slower["ratio_compile_over_eager"] == pytest.approx(0.5)
    assert slower["compile_break_even_frames"] is None  # it never pays back

    skipped = _row()
    bench_mraa.add_compile(skipped, ref, None, None, "timed out", 2)
    assert skipped["compile_skipped"] == "timed out" and skipped["compile_fps"] is None


def test_quick_records_every_row_and_ratio_with_the_machine(
    bench_mraa, tmp_path, monkeypatch, capsys
) -> None:
    # in this process (its quick mode runs no compile child), as `python benchmarks/bench_mraa.py --quick`
    monkeypatch.setenv("MAGICPOSE_BENCH_RESULTS", str(tmp_path))
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / "bench_mraa.py"), "--quick"])
    bench_mraa.main()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    kept = json.loads((tmp_path / "bench_mraa.json").read_text())
    assert kept["benchmark"] == "bench_mraa" and kept["result"] == result
    assert kept["machine"]["cpu"] and kept["machine"]["cores"] >= 1 and kept["machine"]["torch"]
    assert "--quick" in kept["command"]

    assert list(result["configs"]) == ["mraa_demo"]
    entry = result["configs"]["mraa_demo"]
    assert entry["config"] == "configs/demo_mraa.yaml" and entry["size_multiple"] == 32
    assert all(n > 0 for n in entry["params"].values()) and set(entry["params"]) == {
        "region_predictor",
        "generator",
    }
    assert entry["region_predictor"]["num_regions"] == entry["generator"]["num_regions"] == 10
    row = entry["64x64"]
    for key in ("eager_fps", "pipeline_fps", "ratio_pipeline_over_eager"):
        assert _positive(row[key]), key
    assert row["ratio_pipeline_over_eager"] == pytest.approx(
        row["pipeline_fps"] / row["eager_fps"], rel=2e-3
    )  # all three rounded to 4 figures
    assert row["max_abs_diff_pipeline_uint8"] == 0  # the pipeline's frames are the timed work's, quantised
    assert row["compile_skipped"] == "--quick"
    for key in ("compile_fps", "ratio_compile_over_eager", "max_abs_diff_compile", "compile_matches_eager"):
        assert row[key] is None, key
    assert len(row["seconds"]["eager"]) == len(row["seconds"]["pipeline"]) == result["repeats"] == 1
    assert result["frames"] == 1 and result["tolerance"] > 0 and result["threads"] >= 1
    for when in ("start", "end"):
        assert len(result["loadavg"][when]) == 3 and all(v >= 0 for v in result["loadavg"][when])
