"""Tests for magicpose.data.pairs.PairDataset on tiny TikTok-layout datasets built in tmp_path.

Every frame encodes its video in red (40 + 20 * video) and its frame number in green (10 * number),
and every pose map its frame number in green with red 200, so the test can decode from the pixels
which frame and which pose map an item returned.  Frames get black/white stripes (in red and green)
at the top and the bottom for contrast; "flat" frames are a single colour (near-constant).  A marker,
when asked for, is a block of blue 255 (blue is 0 elsewhere) at the same relative position in a
frame and its pose map.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from magicpose.data.pairs import PairDataset, _center_box, _random_resized_box
from magicpose.errors import InputError
from magicpose.image_utils import center_crop_resize, load_image

W, H = 48, 40  # frame size
MARKER = (3 / 16, 4 / 8, 5 / 16, 5 / 8)  # relative box, on whole pixels for every size used here


def _frame(
    video: int, number: int, w: int = W, h: int = H, flat: bool = False, marker: bool = False
) -> np.ndarray:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = 40 + 20 * video
    arr[..., 1] = 10 * number
    if not flat:
        t = h // 10
        stripes = ((np.arange(w)[None, :] // 2 + np.arange(t)[:, None]) % 2 * 255).astype(np.uint8)
        arr[:t, :, :2] = stripes[..., None]  # red and green only: blue is kept for the marker
        arr[-t:, :, :2] = stripes[..., None]
    if marker:
        _draw_marker(arr)
    return arr


def _pose(number: int, w: int = W, h: int = H, marker: bool = False) -> np.ndarray:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = 200
    arr[..., 1] = 10 * number
    if marker:
        _draw_marker(arr)
    return arr


def _draw_marker(arr: np.ndarray) -> None:
    h, w = arr.shape[:2]
    x0, y0, x1, y1 = MARKER
    arr[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w), 2] = 255


def _save(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _dataset(
    root: Path,
    videos: list[list[int]],
    flat: set[tuple[int, int]] = frozenset(),
    pose_size: tuple[int, int] | None = None,
    marker: bool = False,
    pose_is_frame: bool = False,
    split: str = "train",
    size: tuple[int, int] = (W, H),
) -> Path:
    """Videos 'video0', 'video1', ... with frames '<number:04d>.png' for the given numbers.

    Frames are `size` (w, h); pose maps `pose_size` (default: the frame's size).
    """
    pose_size = size if pose_size is None else pose_size
    for v, numbers in enumerate(videos):
        for n in numbers:
            frame = _frame(v, n, *size, flat=(v, n) in flat, marker=marker)
            _save(frame, root / f"{split}_set" / f"video{v}" / f"{n:04d}.png")
            if pose_is_frame:
                pose = np.asarray(Image.fromarray(frame).resize(pose_size, Image.NEAREST))
            else:
                pose = _pose(n, *pose_size, marker=marker)
            _save(pose, root / f"pose_map_{split}_set" / f"video{v}" / f"{n:04d}.png")
    return root


def _pixel(t: torch.Tensor, signed: bool) -> np.ndarray:
    """RGB uint8 value at the centre of an item tensor."""
    v = t[:, t.shape[1] // 2, t.shape[2] // 2].double()
    return np.rint(((v + 1) * 127.5 if signed else v * 255).numpy()).astype(int)


def _decode_frame(t: torch.Tensor) -> tuple[int, int]:
    r, g, _ = _pixel(t, signed=True)
    return round((r - 40) / 20), round(g / 10)


def _decode_pose(t: torch.Tensor) -> int:
    r, g, _ = _pixel(t, signed=False)
    assert abs(r - 200) <= 2
    return round(g / 10)


def _centroid(channel: torch.Tensor) -> np.ndarray:
    w = channel.double().numpy()
    ys, xs = np.mgrid[: w.shape[0], : w.shape[1]]
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def _one_line(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


# ---------------------------------------------------------------------------- pairing and content
def test_items_pair_each_target_with_its_own_pose_by_name(tmp_path) -> None:
    _dataset(tmp_path, [[1, 2, 5, 6, 9], [1, 2, 3]])  # frames 3, 4, 7, 8 of video0 are missing
    ds = PairDataset(tmp_path, height=32, width=32)
    assert len(ds) == 8
    expected = [(0, 1), (0, 2), (0, 5), (0, 6), (0, 9), (1, 1), (1, 2), (1, 3)]
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i, (video, number) in enumerate(expected):
            item = ds[i]
            assert item["index"] == i
            assert item["video"] == f"video{video}"
            assert item["target_frame"] == f"{number:04d}"
            assert _decode_frame(item["image"]) == (video, number)
            assert _decode_pose(item["pose"]) == number  # its own pose map, not the one at its position
            assert _decode_frame(item["reference"]) == (video, int(item["reference_frame"]))
            assert item["reference_frame"] != item["target_frame"]


def test_distance_limit_is_honoured_and_every_allowed_distance_occurs(tmp_path) -> None:
    _dataset(tmp_path, [list(range(1, 13)), list(range(1, 10))])
    ds = PairDataset(tmp_path, height=16, width=16, max_frame_distance=2, seed=3)
    assert len(ds) == 21
    distances: Counter[int] = Counter()
    per_target: dict[tuple[str, int], set[int]] = {}
    for epoch in range(24):  # 504 items
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            target, ref = int(item["target_frame"]) - 1, int(item["reference_frame"]) - 1  # positions
            assert target == (i if i < 12 else i - 12)
            d = ref - target
            assert 1 <= abs(d) <= 2
            distances[d] += 1
            per_target.setdefault((item["video"], target), set()).add(d)
            if i % 5 == 0:
                assert _decode_frame(item["reference"])[1] == ref + 1
    assert set(distances) == {-2, -1, 1, 2}
    assert min(distances.values()) > 504 / 4 * 0.7  # roughly uniform
    assert per_target[("video0", 0)] == {1, 2}
    assert per_target[("video0", 11)] == {-2, -1}
    assert per_target[("video1", 4)] == {-2, -1, 1, 2}


@pytest.mark.parametrize("limit", [None, 100])
def test_without_a_binding_limit_references_come_from_the_whole_video(tmp_path, limit) -> None:
    _dataset(tmp_path, [list(range(1, 9))])
    ds = PairDataset(tmp_path, height=16, width=16, max_frame_distance=limit)
    refs = Counter()
    for epoch in range(140):
        ds.set_epoch(epoch)
        refs[int(ds[0]["reference_frame"])] += 1
    assert set(refs) == set(range(2, 9))  # every other frame, never the target itself
    assert min(refs.values()) >= 8


def test_one_frame_video_and_zero_distance_use_the_target_as_reference(tmp_path) -> None:
    _dataset(tmp_path, [[7], [1, 2, 3]])
    ds = PairDataset(tmp_path, height=16, width=16)
    for epoch in range(3):
        ds.set_epoch(epoch)
        item = ds[0]
        assert item["reference_frame"] == item["target_frame"] == "0007"
        assert torch.equal(item["reference"], item["image"])  # centre crop: the same tensor
    ds0 = PairDataset(tmp_path, height=16, width=16, max_frame_distance=0)
    assert all(ds0[i]["reference_frame"] == ds0[i]["target_frame"] for i in range(len(ds0)))


# ---------------------------------------------------------------------------- near-constant frames
def test_near_constant_frames_are_never_returned(tmp_path) -> None:
    flat = {(0, 3), (0, 4), (0, 10), (1, 1), (1, 3)}
    _dataset(tmp_path, [list(range(1, 11)), [1, 2, 3]], flat=flat)
    ds = PairDataset(tmp_path, height=16, width=16, max_frame_distance=1)
    for epoch in range(8):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            video = int(item["video"][-1])
            target, ref = int(item["target_frame"]), int(item["reference_frame"])
            assert (video, target) not in flat and (video, ref) not in flat
            assert _decode_frame(item["image"]) == (video, target)
            assert _decode_frame(item["reference"]) == (video, ref)
            assert _decode_pose(item["pose"]) == target
            assert abs(target - ref) <= 1
    targets = [ds[i]["target_frame"] for i in range(len(ds))]
    # flat targets move to the next usable frame of their video, cyclically (frame 10 -> frame 1)
    assert targets == [
        "0001",
        "0002",
        "0005",
        "0005",
        "0005",
        "0006",
        "0007",
        "0008",
        "0009",
        "0001",
        "0002",
        "0002",
        "0002",
    ]
    assert ds[1]["reference_frame"] == "0001"  # frame 3 (flat) is skipped
    assert ds[4]["reference_frame"] == "0006"  # frame 4 (flat) is skipped
    # both neighbours of frame 2 of video1 are flat: the target is its own reference
    assert ds[11]["reference_frame"] == "0002"
    # with the check disabled the flat frames come back
    raw = PairDataset(tmp_path, height=16, width=16, max_frame_distance=1, min_std=0)
    assert raw[2]["target_frame"] == "0003"


def test_video_without_usable_frames_raises_naming_its_folder(tmp_path) -> None:
    _dataset(tmp_path, [[1, 2], [1, 2, 3]], flat={(1, 1), (1, 2), (1, 3)})
    ds = PairDataset(tmp_path, height=16, width=16)
    assert ds[0]["target_frame"] == "0001"  # the other video is fine
    with pytest.raises(InputError) as excinfo:
        ds[3]
    assert str(tmp_path / "train_set" / "video1") in _one_line(excinfo)


# ---------------------------------------------------------------------------- tensors and crops
@pytest.mark.parametrize("crop", ["center", "random", "random_resized"])
def test_item_shapes_dtypes_and_ranges(tmp_path, crop) -> None:
    _dataset(tmp_path, [[1, 2, 3], [4, 5]])
    ds = PairDataset(tmp_path, height=24, width=32, crop=crop)
    for i in range(len(ds)):
        item = ds[i]
        for key in ("reference", "image", "pose"):
            t = item[key]
            assert t.shape == (3, 24, 32) and t.dtype == torch.float32
        for key in ("reference", "image"):
            assert item[key].min() >= -1 and item[key].max() <= 1
        assert item["pose"].min() >= 0 and item["pose"].max() <= 1
        r, g, b = _pixel(item["image"], signed=True)
        assert (r, g, b) == (40 + 20 * (i >= 3), 10 * int(item["target_frame"]), 0)  # exact normalisation
        assert tuple(_pixel(item["pose"], signed=False)) == (200, 10 * int(item["target_frame"]), 0)
        assert isinstance(item["seed"], int) and 0 <= item["seed"] < 2**63
        assert all(isinstance(item[k], str) for k in ("video", "reference_frame", "target_frame"))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["seed"].dtype == torch.int64 and batch["image"].shape == (4, 3, 24, 32)
    assert batch["index"].tolist() == [0, 1, 2, 3]


def test_center_crop_matches_center_crop_resize(tmp_path) -> None:
    _dataset(tmp_path, [[1, 2]], marker=True)
    ds = PairDataset(tmp_path, height=32, width=32)
    item = ds[0]
    expected = np.asarray(center_crop_resize(load_image(tmp_path / "train_set/video0/0001.png"), 32, 32))
    got = np.rint((item["image"].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("pose_size", [(W, H), (2 * W, 2 * H), (64, 64)])
def test_center_crop_keeps_pose_aligned_with_frame(tmp_path, pose_size) -> None:
    """The pose map gets the frame's crop box, scaled to its own size (64x64: a stretched render)."""
    _dataset(tmp_path, [[1, 2]], marker=True, pose_size=pose_size)
    ds = PairDataset(tmp_path, height=32, width=32)
    item = ds[0]
    image_marker, pose_marker = _centroid(item["image"][2] + 1), _centroid(item["pose"][2])
    # frame box x in [4, 44] -> 32 px; the marker spans frame x [9, 15], y [20, 25]: centre (12, 22.5),
    # which is output pixel (5.9, 17.5) (pixel centres at integers)
    assert np.allclose(image_marker, [(12 - 4) / 40 * 32 - 0.5, 22.5 / 40 * 32 - 0.5], atol=0.35)
    assert np.abs(image_marker - pose_marker).max() < 0.35
    assert divmod(int(item["image"][2].argmax()), 32) == divmod(int(item["pose"][2].argmax()), 32)
    if pose_size == (64, 64):  # a naive centre crop of the square pose map would be off by ~1.6 px
        naive = center_crop_resize(load_image(tmp_path / "pose_map_train_set/video0/0001.png"), 32, 32)
        naive_marker = _centroid(torch.from_numpy(np.asarray(naive)[..., 2].astype(np.float32)))
        assert np.abs(naive_marker - image_marker).max() > 1.0


def _check_one_box_per_item(ds: PairDataset, center: torch.Tensor, epochs: int = 6) -> None:
    """A random crop mode on a dataset whose pose maps equal their frames and whose first item is a one-frame
    video (its reference is the target frame itself): in each epoch every item's target and pose map share one
    box; the first item's box changes with the epoch, is never the centre crop ``center``, and its reference
    is cut with a box of its own."""
    images, refs = [], []
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert torch.allclose((item["image"] + 1) / 2, item["pose"], atol=1e-6)  # same box
        first = ds[0]
        images.append(first["image"])
        refs.append(first["reference"])
    assert len({t.numpy().tobytes() for t in images}) == epochs  # the box changes with the epoch
    assert all(not torch.equal(a, b) for a, b in zip(images, refs))  # the reference's own box
    assert all(not torch.equal(t, center) for t in images)


def test_random_crop_uses_one_box_for_target_and_pose(tmp_path) -> None:
    _dataset(tmp_path, [[1], [1, 2, 3]], pose_is_frame=True)  # pose maps identical to their frames
    noise = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)  # so every box differs
    for folder in ("train_set", "pose_map_train_set"):
        _save(noise, tmp_path / folder / "video0" / "0001.png")
    ds = PairDataset(tmp_path, height=16, width=24, crop="random", crop_scale=(0.4, 0.7))
    _check_one_box_per_item(ds, center=PairDataset(tmp_path, height=16, width=24)[0]["image"])


def test_random_crop_scales_the_box_onto_a_larger_pose_map(tmp_path) -> None:
    _dataset(tmp_path, [[1, 2]], marker=True, pose_size=(2 * W, 2 * H))
    ds = PairDataset(tmp_path, height=32, width=32, crop="random", crop_scale=(0.5, 0.8))
    for epoch in range(8):
        ds.set_epoch(epoch)
        item = ds[0]
        if item["image"][2].max() < 0:  # the marker was cropped away
            continue
        assert np.abs(_centroid(item["image"][2] + 1) - _centroid(item["pose"][2])).max() < 0.6


def _noise_video(root: Path, size: tuple[int, int], numbers: list[int], seed: int = 0) -> Path:
    """One video of random-noise frames (every box crops differently) whose pose maps equal them."""
    noise = np.random.default_rng(seed)
    for n in numbers:
        arr = noise.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        for folder in ("train_set", "pose_map_train_set"):
            _save(arr, root / folder / "video0" / f"{n:04d}.png")
    return root


def test_random_resized_box_follows_torchvision_on_a_square_frame() -> None:
    """200 draws on a 200x200 frame: square boxes of 90-100 % of the frame's area, anywhere in it."""
    boxes = [_random_resized_box(200, 200, 16, 16, (0.9, 1.0), np.random.default_rng(k)) for k in range(200)]
    fractions, positions, offsets = [], set(), []
    for left, top, right, bottom in boxes:
        w, h = right - left, bottom - top
        assert w == h and w == int(w) and left == int(left) and top == int(top)  # integer square box
        assert 0 <= left and 0 <= top and right <= 200 and bottom <= 200
        fractions.append(w * h / 200**2)
        positions.add((left, top))
        if w < 200:
            offsets += [left / (200 - w), top / (200 - h)]
    # side = round(sqrt(fraction) * 200), fraction in [0.9, 1]: sides 190..200 (0.9025..1)
    assert 0.9 <= min(fractions) < 0.92 and 0.98 < max(fractions) <= 1.0
    assert 0.93 < np.mean(fractions) < 0.97  # uniform in area
    assert len(positions) > 40  # really random (at most 121 positions: offsets 0..10)
    assert 0.4 < np.mean(offsets) < 0.6 and min(offsets) < 0.05 and max(offsets) > 0.95  # uniform placement


@pytest.mark.parametrize(
    "size, expected", [((604, 1080), (0, 238, 604, 842)), ((1920, 1080), (420, 0, 1500, 1080))]
)
def test_random_resized_box_falls_back_to_the_center_box_when_no_square_fits(size, expected) -> None:
    """TikTok portrait (and 16:9 landscape) frames: no square of >= 90 % of the area fits."""
    assert _center_box(*size, 512, 512) == expected
    for k in range(50):
        assert _random_resized_box(*size, 512, 512, (0.9, 1.0), np.random.default_rng(k)) == expected


def test_random_resized_equals_center_crop_on_portrait_frames(tmp_path) -> None:
    _dataset(tmp_path, [[1, 2, 3], [1, 2]], size=(30, 54), marker=True)
    center = PairDataset(tmp_path, height=16, width=16, crop="center")
    resized = PairDataset(tmp_path, height=16, width=16, crop="random_resized")
    for epoch in range(4):
        center.set_epoch(epoch)
        resized.set_epoch(epoch)
        for i in range(len(center)):
            a, b = center[i], resized[i]
            assert a["reference_frame"] == b["reference_frame"]
            for key in ("reference", "image", "pose"):
                assert torch.equal(a[key], b[key])


def test_random_resized_crop_uses_one_box_for_target_and_pose(tmp_path) -> None:
    _noise_video(tmp_path, (40, 40), [1])
    ds = PairDataset(tmp_path, height=16, width=16, crop="random_resized", crop_scale=(0.5, 0.9))
    _check_one_box_per_item(ds, center=PairDataset(tmp_path, height=16, width=16)[0]["image"])


def test_random_resized_crop_scales_the_box_onto_a_larger_pose_map(tmp_path) -> None:
    _dataset(tmp_path, [[1, 2]], size=(48, 48), pose_size=(96, 96), marker=True)
    ds = PairDataset(tmp_path, height=32, width=32, crop="random_resized", crop_scale=(0.3, 0.6))
    centroids = []
    for epoch in range(16):
        ds.set_epoch(epoch)
        item = ds[0]
        if item["image"][2].max() < 0 or item["pose"][2].max() <= 0:  # the marker was cropped away
            continue
        image_marker = _centroid(item["image"][2] + 1)
        assert np.abs(image_marker - _centroid(item["pose"][2])).max() < 0.6
        centroids.append(image_marker)
    assert len(centroids) >= 8
    assert np.ptp(np.array(centroids), axis=0).max() > 5  # the crop really moves the marker


# ---------------------------------------------------------------------------- determinism
def test_items_depend_only_on_seed_epoch_and_index(tmp_path) -> None:
    _dataset(tmp_path, [list(range(1, 11)), list(range(1, 7))])
    kw = dict(height=16, width=16, crop="random", max_frame_distance=3)
    a, b = PairDataset(tmp_path, seed=1, **kw), PairDataset(tmp_path, seed=1, **kw)
    order = list(range(len(a)))
    first = [a[i] for i in order]
    second = [b[i] for i in reversed(order)][::-1]  # another process, another access order
    for x, y in zip(first, second):
        assert x["seed"] == y["seed"] and x["reference_frame"] == y["reference_frame"]
        for key in ("reference", "image", "pose"):
            assert torch.equal(x[key], y[key])
    assert [a.sample_seed(i) for i in order] == [x["seed"] for x in first]
    a.set_epoch(1)
    later = [a[i] for i in order]
    assert sum(x["reference_frame"] != y["reference_frame"] for x, y in zip(first, later)) >= 4
    seeds = [x["seed"] for x in first + later]
    assert len(set(seeds)) == len(seeds)  # a distinct seed per (epoch, index)
    other = PairDataset(tmp_path, seed=2, **kw)
    assert [other[i]["seed"] for i in order] != [x["seed"] for x in first]


def test_random_resized_items_depend_only_on_seed_epoch_and_index(tmp_path) -> None:
    _noise_video(tmp_path, (64, 64), list(range(1, 7)))
    kw = dict(height=16, width=16, crop="random_resized", seed=5)
    a, b = PairDataset(tmp_path, **kw), PairDataset(tmp_path, **kw)
    order = list(range(len(a)))
    first = [a[i] for i in order]
    second = [b[i] for i in reversed(order)][::-1]
    for x, y in zip(first, second):
        assert x["reference_frame"] == y["reference_frame"]
        for key in ("reference", "image", "pose"):
            assert torch.equal(x[key], y[key])
    a.set_epoch(1)
    b.set_epoch(1)
    later = [a[i] for i in order]
    assert all(torch.equal(x["image"], b[i]["image"]) for i, x in enumerate(later))
    # same target frame, another epoch: another box (default scale 0.9-1 of the whole frame)
    assert sum(not torch.equal(x["image"], y["image"]) for x, y in zip(first, later)) >= 5


# ---------------------------------------------------------------------------- bad inputs
def test_construction_reads_no_image(tmp_path, monkeypatch) -> None:
    _dataset(tmp_path, [[1, 2, 3]])

    def refuse(*args, **kwargs):
        raise AssertionError("an image was opened")

    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr("magicpose.data.pairs.load_image", refuse)
    assert len(PairDataset(tmp_path)) == 3


def test_bad_layouts_raise_one_line_input_errors(tmp_path) -> None:
    root = _dataset(tmp_path / "a", [[1, 2]])
    shutil.rmtree(root / "pose_map_train_set" / "video0")
    with pytest.raises(InputError) as excinfo:
        PairDataset(root)
    assert str(root / "pose_map_train_set" / "video0") in _one_line(excinfo)

    root = _dataset(tmp_path / "b", [[1, 2, 3]])
    (root / "pose_map_train_set" / "video0" / "0002.png").unlink()
    with pytest.raises(InputError) as excinfo:
        PairDataset(root)
    message = _one_line(excinfo)
    assert str(root / "train_set" / "video0") in message and "0002" in message

    root = _dataset(tmp_path / "c", [[1, 2]])
    (root / "train_set" / "video9").mkdir()
    (root / "pose_map_train_set" / "video9").mkdir()
    with pytest.raises(InputError) as excinfo:
        PairDataset(root)
    assert str(root / "train_set" / "video9") in _one_line(excinfo)

    with pytest.raises(InputError) as excinfo:
        PairDataset(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / "train_set") in _one_line(excinfo)


@pytest.mark.parametrize("which", ["train_set", "pose_map_train_set"])
def test_unreadable_image_raises_naming_the_file(tmp_path, which) -> None:
    root = _dataset(tmp_path, [[1, 2]])
    bad = root / which / "video0" / "0001.png"
    bad.write_bytes(b"not a png")
    ds = PairDataset(root, max_frame_distance=0)  # construction does not read it
    assert ds[1]["target_frame"] == "0002"
    with pytest.raises(InputError) as excinfo:
        ds[0]
    assert str(bad) in _one_line(excinfo)


def test_invalid_arguments_raise() -> None:
    with pytest.raises(InputError, match="crop"):
        PairDataset("unused", crop="zoom")
    with pytest.raises(InputError, match="crop_scale"):
        PairDataset("unused", crop_scale=(0.0, 1.0))
    with pytest.raises(InputError, match="height"):
        PairDataset("unused", height=30)
    with pytest.raises(ValueError, match="max_frame_distance"):
        PairDataset("unused", max_frame_distance=-1)
