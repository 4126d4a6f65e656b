"""scripts/*.sh run from any folder: each finds the checkout from its own path, and the user's relative arguments
keep meaning relative to the folder it is run from. The training scripts run with stand-ins for python, torchrun
and magicpose that record what they were asked (the real trainings take hours); one inference script runs for
real (1 step at 32x32, seconds)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_cases import bash_script, script_run, tiny_run

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))
EXAMPLE = REPO / "example_data"
# what a script may name in the checkout (the top-level entries it could reach by a repo-relative path)
CHECKOUT = sorted(
    p.name for p in REPO.iterdir() if not p.name.startswith(".") and p.name not in {"outputs", "build"}
)
ROOT_LINE = 'root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)'


def _code(script: Path) -> str:
    """The script without its comments (whole-line and trailing ``  # ...``)."""
    return "\n".join(re.sub(r"(^|\s)#(?![!]).*$", "", line) for line in script.read_text().splitlines())


def test_the_scripts_are_there() -> None:
    assert {p.name for p in SCRIPTS} >= {
        "inference_any_image_pose.sh",
        "inference_tiktok_dataset.sh",
        "inference_driving_video.sh",
        "train_demo.sh",
        "train_pose2vid_demo.sh",
        "appearance_control_pretraining.sh",
        "appearance_disentangle_pose_control.sh",
    }
    assert {"configs", "pretrained_weights", "train_appearance.py", "scripts", "benchmarks"} <= set(CHECKOUT)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_checkout_paths_come_from_the_scripts_own_location(script) -> None:
    code = _code(script)
    names = "|".join(re.escape(n) for n in CHECKOUT)
    # a checkout entry not reached through "$root/": it would only work with the checkout as the current folder
    bare = [m.group(0) for m in re.finditer(rf"(?<![\w./$-])(?:{names})(?![\w.-])", code)]
    assert bare == [], f'{script.name} names {bare} relative to the current folder: use "$root/..."'
    assert not re.search(r"(^|[;&|\s])cd\s", code.replace(ROOT_LINE, "")), (
        f"{script.name} changes folder: the user's relative arguments would change meaning"
    )
    if "$root/" in code:
        assert ROOT_LINE in code.splitlines(), (
            f"{script.name} uses $root without finding the checkout from itself"
        )
        for path in re.findall(r"\$root/([\w./-]+)", code):
            if not path.startswith("outputs/"):
                assert (REPO / path).exists(), f"{script.name}: $root/{path} is not in the checkout"
    subprocess.run(["bash", "-n", str(script)], check=True)


STUB = """#!/usr/bin/env bash
{ printf '%s\\n' "$(basename "$0") cwd=$PWD"; for a in "$@"; do printf '  %s\\n' "$a"; done; } >> "$STUB_LOG"
"""


def _run_with_stubs(tmp_path: Path, script: str, *args: str) -> tuple[Path, list[list[str]]]:
    """Run ``script`` from a folder outside the checkout with stand-ins for the programs it starts; returns the
    folder and each call: [program, cwd=..., arg, arg, ...]."""
    bindir, cwd, log = tmp_path / "bin", tmp_path / "elsewhere", tmp_path / "calls.txt"
    bindir.mkdir()
    cwd.mkdir()
    for name in ("python", "torchrun", "magicpose"):
        (bindir / name).write_text(STUB)
        (bindir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "STUB_LOG": str(log)}
    done = subprocess.run(
        bash_script(script, *args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    calls: list[list[str]] = []
    for line in log.read_text().splitlines():
        if line.startswith("  "):
            calls[-1].append(line[2:])
        else:
            calls.append(line.split(" ", 1))
    return cwd, calls


def _checkout_args(call: list[str]) -> list[str]:
    return [a for a in call[2:] if a.startswith(str(REPO))]


@pytest.mark.parametrize(
    ("script", "args", "program", "checkout_files", "user_args"),
    [
        (
            "appearance_control_pretraining.sh",
            ["sd15", "data/tiktok", "train.max_steps=3"],
            "torchrun",
            ["train_appearance.py", "configs/sd15_appearance.yaml"],
            ["model.pretrained_dir=sd15", "data.root=data/tiktok", "train.max_steps=3"],
        ),
        (
            "appearance_disentangle_pose_control.sh",
            ["sd15", "data", "stage1/final/appearance_unet", "none", "2"],
            "torchrun",
            ["train_pose_control.py", "configs/sd15_pose_control.yaml"],
            [
                "model.pretrained_dir=sd15",
                "data.root=data",
                "model.appearance_unet=stage1/final/appearance_unet",
                "model.controlnet=null",
            ],
        ),
    ],
)
def test_training_scripts_from_another_folder(
    tmp_path, script, args, program, checkout_files, user_args
) -> None:
    cwd, calls = _run_with_stubs(tmp_path, script, *args)
    (call,) = calls
    assert call[:2] == [program, f"cwd={cwd}"]  # run where the user is: their relative paths mean the same
    assert _checkout_args(call) == [str(REPO / f) for f in checkout_files]
    assert all(a in call for a in user_args), call  # passed on as given, still relative to cwd
    if script.startswith("appearance_disentangle"):
        assert call[call.index("--nproc_per_node") + 1] == "2"


@pytest.mark.parametrize(
    ("script", "checkout_files"),
    [
        (
            "train_demo.sh",
            [
                "train_base.py",
                "configs/demo_base.yaml",
                "train_appearance.py",
                "configs/demo_appearance.yaml",
                "train_pose_control.py",
                "configs/demo_pose_control.yaml",
                "scripts/export_demo_weights.py",
                "pretrained_weights/demo",
                "benchmarks/eval_demo.py",
                "pretrained_weights/demo",
            ],
        ),
        (
            "train_pose2vid_demo.sh",
            [
                "train_pose2vid.py",
                "configs/demo_pose2vid.yaml",
                "train_pose2vid.py",
                "configs/demo_pose2vid_face.yaml",
                "scripts/export_demo_weights.py",
                "pretrained_weights/pose2vid_demo",
            ],
        ),
    ],
)
def test_demo_training_scripts_keep_a_relative_work_dir_relative_to_the_caller(
    tmp_path, script, checkout_files
) -> None:
    cwd, calls = _run_with_stubs(tmp_path, script, "runs/demo")
    assert {c[1] for c in calls} == {f"cwd={cwd}"}
    assert calls[0][:4] == ["magicpose", f"cwd={cwd}", "make-synthetic", "--output"]
    assert calls[0][4] == "runs/demo/data"  # the user's WORK_DIR, under the folder they ran the script from
    assert [a for c in calls for a in _checkout_args(c)] == [str(REPO / f) for f in checkout_files]
    assert all(not a.startswith(str(REPO)) for c in calls for a in c if "runs/demo" in a)
    if script == "train_demo.sh":  # mkdir -p "$work" and the evaluation's tee: in the caller's folder
        assert (cwd / "runs" / "demo").is_dir() and (cwd / "runs" / "demo" / "eval.txt").is_file()
    assert not (REPO / "runs").exists()


def test_inference_script_from_another_folder_writes_where_the_user_asked(tmp_path) -> None:
    """Relative image, poses and output, run from a folder outside the checkout: the video lands there."""
    (tmp_path / "poses").mkdir()
    shutil.copy(EXAMPLE / "reference.png", tmp_path / "me.png")
    for pose in sorted((EXAMPLE / "poses").glob("*.png"))[:2]:
        shutil.copy(pose, tmp_path / "poses")
    command = bash_script("inference_any_image_pose.sh", "me.png", "poses", "out/me.mp4", *tiny_run(1))
    done = subprocess.run(command, **script_run(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote out/me.mp4, out/me_frames/ (2 frames)" in done.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "me.mp4",
        "me_frames",
        "me_preview.mp4",
        "me_preview.png",
    ]
    assert not (REPO / "out").exists()


def test_a_bad_relative_argument_is_named_as_the_user_gave_it(tmp_path) -> None:
    command = bash_script("inference_driving_video.sh", "nope.png", "dance.mp4", "out/me.mp4")
    done = subprocess.run(command, **script_run(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1:] == [
        "error: reference image 'nope.png' does not exist: pass the path of a .png/.jpg image"
    ]
    assert list(tmp_path.iterdir()) == []  # no out/ folder left behind
