"""The vid2vid benchmarks of issue 22, in their quick modes: bench_gan.py's vid2vid rows beside pose2vid's,
bench_vid2vid_memory.py's streamed-vs-collected peaks and compare_generators.py's vid2vid row. Their figures
are not checked (they depend on the machine), only that every row and ratio is there, consistent and
recorded with the machine (in a temporary folder: $MAGICPOSE_BENCH_RESULTS keeps the kept results intact)."""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SIZE = "64x64"  # a multiple of both demo configurations' size_multiple (16 and 8)


@pytest.fixture
def run_script(monkeypatch, capsys):
    """Run a benchmark script's ``main`` in this process (a Python start-up and torch import cheaper than a
    subprocess; bench_vid2vid_memory still measures in fresh children): its last stdout line (the JSON) and the
    result it recorded."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # their sibling modules (results) import by name

    def run(script: str, *args: str, results: Path) -> tuple[dict, dict]:
        monkeypatch.setenv("MAGICPOSE_BENCH_RESULTS", str(results))
        monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / f"{script}.py"), *args])
        capsys.readouterr()
        importlib.import_module(script).main()
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        kept = json.loads((results / f"{script}.json").read_text())
        assert kept["benchmark"] == script and kept["machine"]["cores"] >= 1 and kept["machine"]["cpu"]
        return result, kept["result"]

    return run


def _positive(value) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


@pytest.fixture
def bench_gan(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its sibling modules (results) import by name
    return importlib.import_module("bench_gan")


def test_vid2vid_over_pose2vid_pairs_every_vid2vid_config_with_every_pose2vid_one(bench_gan) -> None:
    def row(fps: float, frozen: float | None) -> dict:
        return {"eager_fps": fps, "compile_fps": None, "compile_freezing_fps": frozen, "pipeline_fps": fps}

    configs = {
        "edn": {"family": "pose2vid", "256x256": row(2.0, 4.0)},
        "v2v_256p": {"family": "vid2vid", "256x256": row(0.5, None)},
        "v2v_demo": {"family": "vid2vid", "256x256": row(3.0, 3.0)},
    }
    ratios = bench_gan.vid2vid_over_pose2vid(configs, ["256x256"])
    assert set(ratios) == {"v2v_256p_over_edn", "v2v_demo_over_edn"}
    assert ratios["v2v_256p_over_edn"]["256x256"] == {
        "eager_fps": 0.25,
        "compile_fps": None,  # neither side compiled
        "compile_freezing_fps": None,  # one side not compiled
        "pipeline_fps": 0.25,
    }
    assert ratios["v2v_demo_over_edn"]["256x256"]["compile_freezing_fps"] == 0.75


def test_every_vid2vid_config_fits_the_benchmark_sizes(bench_gan) -> None:
    for name, (family, _) in bench_gan.CONFIGS.items():
        assert family in bench_gan.FAMILIES, name
    # the original's 256p pose2body generator: ngf 128, 3 downsamplings, 9 blocks, 3 frames per step
    assert bench_gan.CONFIGS["v2v_256p"] == (
        "vid2vid",
        dict(ngf=128, n_downsample_G=3, n_blocks=9, n_frames_G=3, norm="instance_affine"),
    )


@pytest.mark.slow  # a benchmark's quick mode: seconds
def test_bench_gan_quick_times_vid2vid_beside_pose2vid(run_script, tmp_path) -> None:
    result, kept = run_script("bench_gan", "--quick", "--sizes", SIZE, results=tmp_path)
    assert kept == result
    assert list(result["configs"]) == ["demo", "v2v_demo"]
    for name, family in (("demo", "pose2vid"), ("v2v_demo", "vid2vid")):
        entry = result["configs"][name]
        assert entry["family"] == family and entry["params"] > 0
        row = entry[SIZE]
        for key in ("eager_fps", "inference_mode_channels_last_fps", "pipeline_fps"):
            assert _positive(row[key]), (name, key)
        assert row["max_abs_diff_pipeline_uint8"] == 0  # the pipeline's frames are the recursion's, quantised
        assert row["compile_skipped"] == row["compile_freezing_skipped"] == "--quick"
        assert row["compile_fps"] is None
    ratio = result["vid2vid_over_pose2vid"]["v2v_demo_over_demo"][SIZE]
    configs = result["configs"]
    expected = configs["v2v_demo"][SIZE]["eager_fps"] / configs["demo"][SIZE]["eager_fps"]
    assert ratio["eager_fps"] == pytest.approx(expected, rel=2e-3)  # both sides rounded to 4 figures
    assert ratio["compile_fps"] is None
    assert result["loadavg_1min"]["start"] >= 0


@pytest.mark.slow  # four child processes
def test_memory_quick_measures_streamed_and_collected_in_fresh_processes(run_script, tmp_path) -> None:
    result, kept = run_script("bench_vid2vid_memory", "--quick", results=tmp_path)
    assert kept == result
    assert result["config"] == "v2v_demo" and result["size"] == SIZE and result["lengths"] == [4, 16]
    assert result["uint8_frame_kib"] == 12.0
    for way in ("streamed", "collected"):
        rows = result["ways"][way]
        for length in ("4", "16"):
            assert _positive(rows[length]["baseline_mib"]) and _positive(rows[length]["fps"])
            assert rows[length]["delta_mib"] >= 0
            assert rows[length]["peak_mib"] >= rows[length]["baseline_mib"]
        assert isinstance(rows["growth_kib_per_extra_frame"], float)
        assert "ratio_longest_over_shortest" in rows


@pytest.mark.slow  # a benchmark's quick mode: seconds
def test_compare_generators_quick_has_vid2vid_and_mraa_rows_and_the_cross_identity_table(
    run_script, tmp_path
) -> None:
    out, no_weights = tmp_path / "out", tmp_path / "no-weights"
    no_weights.mkdir()  # no metric networks, whatever $MAGICPOSE_EVAL_WEIGHTS says: those metrics are skipped
    rows, kept = run_script(
        "compare_generators",
        "--quick",
        "--magicpose",
        "none",
        "--out",
        str(out),
        "--eval-weights",
        str(no_weights),
        "--device",
        "cpu",
        results=tmp_path,
    )
    assert list(rows) == ["pose2vid", "pose2vid_face", "vid2vid", "mraa", "copy_reference"]
    for name, values in rows.items():
        assert 0 <= values["iou"] <= 1 and 0 < values["temporal"] < 1 and _positive(values["psnr"]), name
    report = json.loads((out / "compare_generators.json").read_text())
    assert kept == report  # the whole report, with the machine
    assert report["not_run"] == {"magicpose": "--magicpose none"}
    assert report["generators"]["vid2vid"]["temporal_error"] == rows["vid2vid"]["temporal"]
    cross = report["cross_identity"]["rows"]  # MRAA's modes on another dancer, against that dancer's renders
    assert list(cross) == ["mraa_standard", "mraa_relative", "mraa_avd", "copy_reference"]
    assert all(0 <= v["iou"] <= 1 and _positive(v["psnr"]) for v in cross.values())
    assert "| mraa_avd |" in (out / "compare_generators.md").read_text()
    assert len(list((out / "vid2vid" / next(iter(os.listdir(out / "gt")))).glob("*.png"))) == 16
    table = (out / "compare_generators.md").read_text()
    assert "| vid2vid |" in table and "temporal error ↓" in table
