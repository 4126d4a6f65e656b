"""MRAA's frame-pair dataset: both layouts, video files, determinism, augmentations, clear errors."""

import numpy as np
import pytest
import torch
from conftest import make_square_dataset
from PIL import Image

from magicpose.data.video_frames import FramePairDataset, list_frame_videos
from magicpose.errors import InputError


def make_seed_layout(root, videos=2, frames=5, size=24):
    """<root>/train/<video>/<n>.png, each frame a different grey level so frames can be told apart."""
    for v in range(videos):
        folder = root / "train" / f"clip{v}"
        folder.mkdir(parents=True)
        for f in range(frames):
            Image.fromarray(np.full((size, size, 3), 10 * f + 100 * v, np.uint8)).save(folder / f"{f}.png")
    return root


def test_both_layouts_are_listed_in_natural_order(tmp_path):
    tiktok = list_frame_videos(make_square_dataset(tmp_path / "tiktok", videos=2, frames=4), "train")
    assert [v.name for v in tiktok] == ["vid0", "vid1"] and [len(v) for v in tiktok] == [4, 4]
    seed = list_frame_videos(make_seed_layout(tmp_path / "seed", videos=3), "train")
    assert [v.name for v in seed] == ["clip0", "clip1", "clip2"]
    assert [p.name for p in seed[0].frames] == ["0.png", "1.png", "2.png", "3.png", "4.png"]


def test_a_video_file_is_read_whole(tmp_path):
    from magicpose.video import VideoWriter

    (tmp_path / "train").mkdir()
    with VideoWriter(tmp_path / "train" / "dance.mp4", fps=8) as writer:
        for f in range(6):
            writer.write(np.full((32, 32, 3), 40 * f, np.uint8))
    (video,) = list_frame_videos(tmp_path, "train")
    assert video.name == "dance" and len(video) == 6
    frames = video.read(16)
    assert len(frames) == 6 and frames[0].shape == (16, 16, 3)
    assert [int(round(f.mean() / 40)) for f in frames] == [0, 1, 2, 3, 4, 5]


def test_pairs_are_two_frames_of_one_video_and_depend_only_on_seed_epoch_and_index(tmp_path):
    root = make_seed_layout(tmp_path, videos=2, frames=5)
    data = FramePairDataset(root, size=16, num_repeats=3, flip=False, time_flip=False, jitter=0)
    assert len(data) == 6
    item = data[3]
    assert item["video"] == "clip1" and item["source"].shape == (3, 16, 16)
    levels = [round(item[k].mean().item() * 255) for k in ("source", "driving")]
    assert levels[0] < levels[1]  # in time order without time flips
    assert all((level - 100) % 10 == 0 and 100 <= level <= 140 for level in levels)
    again = FramePairDataset(root, size=16, num_repeats=3, flip=False, time_flip=False, jitter=0)[3]
    assert torch.equal(again["source"], item["source"]) and torch.equal(again["driving"], item["driving"])
    draws = set()
    for epoch in range(8):
        data.set_epoch(epoch)
        draws.add(tuple(round(data[3][k].mean().item() * 255) for k in ("source", "driving")))
    assert len(draws) > 1


def test_augmentations_flip_both_frames_alike_and_keep_values_in_range(tmp_path):
    root = make_square_dataset(tmp_path, videos=1, frames=4)
    plain = FramePairDataset(root, size=40, flip=False, time_flip=False, jitter=0)
    flipped = FramePairDataset(root, size=40, flip=True, time_flip=False, jitter=0)
    seen_flip = False
    for epoch in range(6):
        plain.set_epoch(epoch), flipped.set_epoch(epoch)
        a, b = plain[0], flipped[0]
        if not torch.equal(a["source"], b["source"]):
            seen_flip = True
            assert torch.equal(b["source"], a["source"].flip(-1))
            assert torch.equal(b["driving"], a["driving"].flip(-1))
    assert seen_flip
    jittered = FramePairDataset(root, size=40, jitter=0.5)[0]
    assert 0 <= jittered["source"].min().item() and jittered["driving"].max().item() <= 1


def test_missing_split_and_empty_folder_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="neither 'train_set/' nor 'train/'"):
        list_frame_videos(tmp_path, "train")
    (tmp_path / "train" / "only_one_frame").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "only_one_frame" / "0.png")
    with pytest.raises(InputError, match="no video of two or more frames"):
        list_frame_videos(tmp_path, "train")
