"""Installed as users install it (a built wheel, not `pip install -e`), the main job still runs: the example
and the demo weights are package data, found beside the installed code."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "src" / "magicpose" / "assets"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root / "dist"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("magicpose-*.whl")
    site = root / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    # the installed copy comes first on the path, ahead of this checkout's editable install
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    return {"wheel": wheel, "site": site, "env": env, "cwd": root}


def test_the_wheel_holds_every_asset_file(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    assets = {
        f"magicpose/assets/{p.relative_to(ASSETS).as_posix()}" for p in ASSETS.rglob("*") if p.is_file()
    }
    assert len(assets) > 50 and assets <= names, sorted(assets - names)[:5]


def test_the_wheel_carries_the_packages_one_version_string(installed):
    """pyproject.toml reads the version from magicpose/__init__.py: the wheel's name and metadata say the same."""
    import magicpose

    wheel = installed["wheel"]
    assert wheel.name.startswith(f"magicpose-{magicpose.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        assert f"Version: {magicpose.__version__}" in archive.read(metadata).decode().splitlines()


@pytest.mark.parametrize("generator", ["magicpose", "pose2vid"])
def test_infer_with_no_arguments_runs_from_the_installed_wheel(installed, generator):
    cwd = installed["cwd"] / f"run_{generator}"  # outside the checkout: no example_data/ here
    cwd.mkdir()
    code = (
        "import magicpose, sys; from magicpose.cli import main; print(magicpose.__file__); sys.exit(main())"
    )
    extra = ["--steps", "2"] if generator == "magicpose" else ["--generator", "pose2vid"]
    run = subprocess.run(
        [sys.executable, "-c", code, "infer", *extra],
        cwd=cwd,
        env=installed["env"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(str(installed["site"]))  # the installed package ran
    assert "note: " in run.stdout  # the demo weights' description
    stem = {"magicpose": "demo", "pose2vid": "pose2vid_demo"}[generator]
    frames = sorted((cwd / "outputs" / f"{stem}_frames").glob("*.png"))
    assert len(frames) == 16 and (cwd / "outputs" / f"{stem}.mp4").stat().st_size > 0
    assert np.asarray(Image.open(frames[0])).shape == (64, 64, 3)  # the demo weights' size
