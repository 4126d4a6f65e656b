"""`magicpose infer-dataset` as several processes (torchrun, accelerate launch): each rank takes every N-th video,
and together they write exactly the files of one process; a failing rank never deletes another's videos.

Multi-process runs are real: `python -m torch.distributed.run --standalone --nproc_per_node 2 -m magicpose ...`
on the CPU, one thread per process; the one-process runs they are compared with run in this process, on one
thread too. Tiny runs: the demo weights, 2 steps, 32x32.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_cases import DEMO_WEIGHTS, infer_dataset_argv, tiny_run
from PIL import Image

from magicpose import cli
from magicpose.distributed import Rank, rank_from_environ, sigterm_interrupts
from magicpose.errors import InputError
from magicpose.files import RECORD, make_parents

REPO = Path(__file__).resolve().parents[1]
POSES = sorted((REPO / "example_data" / "poses").glob("*.png"))
FAST = [*tiny_run(), "--weights", str(DEMO_WEIGHTS), "--seed", "3"]
LAUNCH_ENV = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)
VIDEOS = {
    "vid_a": 3,
    "vid_b": 2,
    "vid_c": 3,
}  # 3 videos over 2 ranks: rank 0 takes vid_a and vid_c, rank 1 vid_b

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _make_video(root: Path, video: str, frames: int) -> None:
    """One TikTok-layout video, 48x40 frames; its pixels depend only on its name and index, so the same video
    is the same in every dataset built here."""
    rng = np.random.default_rng(zlib.crc32(video.encode()))
    img_dir, pose_dir = root / "test_set" / video, root / "pose_map_test_set" / video
    img_dir.mkdir(parents=True)
    pose_dir.mkdir(parents=True)
    for i in range(frames):
        frame = np.zeros((40, 48, 3), np.uint8)
        frame[:] = rng.integers(0, 256, 3, dtype=np.uint8)
        frame[10:30, 8 + i % 20 : 20 + i % 20] = rng.integers(0, 256, (20, 12, 3), dtype=np.uint8)
        Image.fromarray(frame).save(img_dir / f"{i:04d}.png")
        Image.open(POSES[i % len(POSES)]).convert("RGB").resize((48, 40)).save(pose_dir / f"{i:04d}.png")


def _make_dataset(root: Path, videos: dict[str, int]) -> Path:
    for video, frames in videos.items():
        _make_video(root, video, frames)
    return root


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too: records, any temporary) with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _one_process(root: Path, out: Path, *extra: str) -> int:
    """infer-dataset in this process, as one process (no launcher variables)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in LAUNCH_ENV:
            mp.delenv(name, raising=False)
        return cli.main(infer_dataset_argv(root, out, *FAST, *extra))


def _as_rank(monkeypatch, rank: int, world_size: int) -> None:
    """This process as rank ``rank`` of ``world_size``, as torchrun would start it on one node."""
    for name, value in (("RANK", rank), ("WORLD_SIZE", world_size), ("LOCAL_RANK", rank)):
        monkeypatch.setenv(name, str(value))


def _torchrun(root: Path, out: Path, cwd: Path, *extra: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        "-m",
        "magicpose",
        *infer_dataset_argv(root, out, *FAST, *extra),
    ]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def _generated_by(stdout: str) -> dict[str, list[int]]:
    """video -> the ranks that printed ``rank R/2: <video>: generating ...``."""
    found: dict[str, list[int]] = {}
    for rank, video in re.findall(r"^rank (\d+)/2: (\w+): generating ", stdout, re.M):
        found.setdefault(video, []).append(int(rank))
    return found


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return _make_dataset(tmp_path_factory.mktemp("data") / "TikTok", VIDEOS)


@pytest.fixture(scope="module")
def one_run(dataset, tmp_path_factory, one_torch_thread) -> Path:
    out = tmp_path_factory.mktemp("one") / "gen"
    assert _one_process(dataset, out) == 0
    return out


@pytest.fixture(scope="module")
def two_run(dataset, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    work = tmp_path_factory.mktemp("two")
    proc = _torchrun(dataset, work / "gen", work)
    return work / "gen", proc


# -- the shares and the devices ------------------------------------------------------------------------------


@pytest.mark.parametrize(("items", "world_size"), [(3, 1), (3, 2), (3, 3), (3, 4), (7, 3), (8, 8), (1, 5)])
def test_shards_are_every_nth_item_disjoint_and_complete(items, world_size) -> None:
    names = [f"v{i}" for i in range(items)]
    shards = [Rank(r, world_size, r).shard(names) for r in range(world_size)]
    assert shards == [names[r::world_size] for r in range(world_size)]  # rank r: r, r + W, r + 2W, ...
    assert sorted(sum(shards, [])) == sorted(names)  # each item in exactly one shard
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert Rank().shard(names) == names  # alone: everything


def test_rank_from_environ() -> None:
    assert rank_from_environ({}) == Rank(0, 1, 0)
    assert not rank_from_environ({"RANK": "5"}).several  # no WORLD_SIZE: alone
    assert rank_from_environ({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}) == Rank(5, 8, 1)
    assert rank_from_environ({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}).prefix == "rank 5/8: "
    assert Rank().prefix == ""
    for env, text in [
        ({"WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "RANK is not set"),
        ({"WORLD_SIZE": "two", "RANK": "0", "LOCAL_RANK": "0"}, "WORLD_SIZE='two' is not a whole"),
        ({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"}, "RANK=2 must be from 0 to"),
        ({"WORLD_SIZE": "0", "RANK": "0", "LOCAL_RANK": "0"}, "WORLD_SIZE=0 must be at least 1"),
        ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "-1"}, "LOCAL_RANK=-1"),
    ]:
        with pytest.raises(InputError, match=re.escape(text)):
            rank_from_environ(env)


def test_each_rank_takes_its_own_gpu(monkeypatch) -> None:
    assert Rank(1, 2, 1).device("cpu") == "cpu"
    assert Rank(0, 1, 0).device(None) is None and Rank(0, 1, 0).device("cuda") == "cuda"  # alone: unchanged
    if not torch.cuda.is_available():
        assert Rank(1, 2, 1).device(None) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert Rank(5, 8, 1).device("cuda") == "cuda:1"  # the second node's second GPU is its cuda:1
    assert Rank(5, 8, 1).device(None) == "cuda:1"
    assert Rank(5, 8, 1).device("cuda:3") == "cuda:3"  # an explicit GPU is kept
    with pytest.raises(InputError, match="LOCAL_RANK=4 has no GPU of its own, this machine has 4"):
        Rank(4, 8, 4).device("cuda")


# -- N processes write the files of one -------------------------------------------------------------------------


def test_two_processes_write_the_files_of_one_process(one_run, two_run) -> None:
    out, proc = two_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert _generated_by(proc.stdout) == {"vid_a": [0], "vid_b": [1], "vid_c": [0]}  # each video by one rank
    assert f"rank 0/2: wrote 2 videos to {out}: vid_a, vid_c (this rank's share of 3 videos)" in proc.stdout
    assert f"rank 1/2: wrote 1 video to {out}: vid_b (this rank's share of 3 videos)" in proc.stdout
    one, two = _files(one_run), _files(out)
    assert sorted(two) == sorted(one)
    assert {Path(f).parts[1] for f in one if len(Path(f).parts) > 2} == {
        "gen_images",
        "gt_images",
        "pose_maps",
    }
    assert {f for f in one if f.endswith("condition.png")} == {f"{v}/condition.png" for v in VIDEOS}
    assert [f for f in two if two[f] != one[f]] == []  # every file byte-equal
    assert {Path(f).name for f in two if Path(f).name.startswith(".")} == {RECORD}  # no temporaries


def test_evaluate_scores_both_outputs_alike(one_run, two_run, tmp_path, capsys) -> None:
    results = []
    for out in (one_run, two_run[0]):
        report = tmp_path / f"{out.parent.name}.json"
        assert (
            cli.main(
                [
                    "evaluate",
                    str(out),
                    "-o",
                    str(report),
                    "--device",
                    "cpu",
                    "--metrics",
                    "l1,l1_disco,psnr,psnr_disco,ssim",
                ]
            )
            == 0
        )
        results.append(json.loads(report.read_text()))
    one, two = results
    assert set(one["metrics"]) == {"l1", "l1_disco", "psnr", "psnr_disco", "ssim"}
    assert one["counts"] == two["counts"] == {"videos": 3, "frames": 5, "clips": 0}
    for key in ("metrics", "per_video", "skipped", "protocol"):
        assert one[key] == two[key], key


def test_one_rank_writes_only_its_share_and_a_rank_without_video_exits_0(
    dataset, one_run, tmp_path, capsys, monkeypatch
) -> None:
    out = tmp_path / "gen"
    _as_rank(monkeypatch, 2, 4)  # rank 2 of 4: vid_c alone
    assert cli.main(infer_dataset_argv(dataset, out, *FAST)) == 0
    printed = capsys.readouterr().out
    assert "rank 2/4: vid_c: generating 2 frames" in printed and "vid_a" not in printed
    assert _files(out) == {f: data for f, data in _files(one_run).items() if f.startswith("vid_c/")}
    _as_rank(monkeypatch, 3, 4)  # 3 videos, 4 ranks: the last has none
    assert cli.main(infer_dataset_argv(dataset, tmp_path / "none", *FAST)) == 0
    assert capsys.readouterr().out.strip() == "rank 3/4: no video to generate (3 videos for 4 processes)"
    assert not (tmp_path / "none").exists()


def test_every_rank_checks_every_video_before_any_work(tmp_path, capsys, monkeypatch) -> None:
    root = _make_dataset(tmp_path / "TikTok", VIDEOS)
    (root / "test_set" / "vid_c" / "0002.png").write_bytes(
        b"\x89PNG\r\n\x1a\n broken"
    )  # rank 0's second video
    for rank in (0, 1):  # rank 1 never reads vid_c, and still refuses the run
        _as_rank(monkeypatch, rank, 2)
        assert cli.main(infer_dataset_argv(root, tmp_path / "gen", *FAST)) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            f"error: rank {rank}/2: cannot read image '{root / 'test_set' / 'vid_c' / '0002.png'}'"
        )
        assert len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "gen").exists()


# -- failures -----------------------------------------------------------------------------------------------------


def test_a_failing_rank_keeps_the_other_ranks_videos(tmp_path) -> None:
    # rank 1's vid_b is long and its last real frame is damaged past its header: it fails while writing, after
    # generating 39 frames, seconds after rank 0 finished its two 1-frame videos (3 s on a 2-core machine)
    root = _make_dataset(tmp_path / "TikTok", {"vid_a": 2, "vid_b": 40, "vid_c": 2})
    damaged = root / "test_set" / "vid_b" / "0039.png"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    with Image.open(damaged) as im:  # the header still opens: the check before any work lets it through
        assert im.size == (48, 40)
    reference = _make_dataset(tmp_path / "ref", {"vid_a": 2, "vid_c": 2})
    assert _one_process(reference, tmp_path / "one", "--steps", "10") == 0

    proc = _torchrun(root, tmp_path / "gen", tmp_path, "--steps", "10")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: rank 1/2: cannot read image '{damaged}'"), (
        errors
    )
    assert f"rank 0/2: wrote 2 videos to {tmp_path / 'gen'}: vid_a, vid_c" in proc.stdout, proc.stderr[-3000:]
    assert _files(tmp_path / "gen") == _files(tmp_path / "one")  # rank 0's videos, whole; nothing of vid_b


def test_stopped_by_the_launcher_a_rank_keeps_its_finished_videos(
    dataset, one_run, tmp_path, capsys, monkeypatch
) -> None:
    """torchrun stops the other ranks with SIGTERM when one fails: the video in progress is cleaned away."""
    from magicpose import infer

    real, calls = infer.generate_latents, []

    def generate(*args, **kwargs):
        latents = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # rank 0's second video, vid_c, generated but not written
            os.kill(os.getpid(), signal.SIGTERM)
        return latents

    monkeypatch.setattr(infer, "generate_latents", generate)
    before = signal.getsignal(signal.SIGTERM)
    _as_rank(monkeypatch, 0, 2)
    out = tmp_path / "gen"
    assert cli.main(infer_dataset_argv(dataset, out, *FAST)) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"interrupted: rank 0/2: the video in progress was not written; 1 finished video kept in {out}: vid_a"
    )
    assert _files(out) == {f: data for f, data in _files(one_run).items() if f.startswith("vid_a/")}
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_sigterm_interrupts_only_inside_the_block() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


def test_make_parents_claims_only_the_folders_it_made(tmp_path, monkeypatch) -> None:
    """Ranks share the output folder: one made by another rank first is not this rank's to remove, and one
    another rank removes (its own, empty) while this one makes a folder inside is made again."""
    real_mkdir = Path.mkdir
    out = tmp_path / "gen"

    def another_rank_first(self, *args, **kwargs):
        if self == out and not out.exists():
            real_mkdir(self)  # the other rank wins the race
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", another_rank_first)
    assert make_parents(out / "vid_a") == [out / "vid_a"]  # not gen/: another's
    monkeypatch.undo()
    (out / "vid_a").rmdir()
    removed = []

    def another_rank_cleans_up(self, *args, **kwargs):
        if self == out / "vid_b" and not removed:
            out.rmdir()  # the other rank removes gen/, its own and empty, after this one looked
            removed.append(out)
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", another_rank_cleans_up)
    assert make_parents(out / "vid_b") == [out / "vid_b", out]  # made again, now this rank's
    assert (out / "vid_b").is_dir()
