"""Images at other bit depths and paths that are not regular files: what `infer` and `evaluate` read."""

from __future__ import annotations

import contextlib
import json
import os
import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from magicpose.cli import main
from magicpose.errors import InputError
from magicpose.image_utils import load_image, scale_16_to_8
from magicpose.pose import PoseInputError, load_pose_sequence, read_openpose_json

# 16-bit samples whose 8-bit values by rounding differ from Pillow's truncation to the high byte
# (1000 -> 4 not 3, 200 -> 1 not 0) and from saturation (anything > 255 -> 255).
SAMPLES = np.array([[0, 257, 1000, 65535], [32768, 128, 200, 65000]], np.uint16)


def _expected(values: np.ndarray) -> np.ndarray:
    """round(v * 255 / 65535), computed independently in floating point."""
    return np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)


def test_expected_values_are_the_rounded_scale():
    assert _expected(SAMPLES).tolist() == [[0, 1, 4, 255], [128, 0, 1, 253]]
    everything = np.arange(65536)
    assert np.array_equal(scale_16_to_8(everything), _expected(everything))


def _rgb16() -> np.ndarray:
    """(2, 4, 3) 16-bit RGB with every channel different."""
    return np.stack([SAMPLES, SAMPLES[::-1], SAMPLES[:, ::-1]], axis=-1)


def _write_16(path, rgb: np.ndarray) -> None:
    """Write a 16-bit PNG with OpenCV (BGR(A) order), which Pillow cannot write for colour."""
    bgr = rgb[..., [2, 1, 0, 3]] if rgb.shape[-1] == 4 else rgb[..., ::-1]
    assert cv2.imwrite(str(path), np.ascontiguousarray(bgr))


@pytest.mark.parametrize("kind", ["grey", "rgb", "rgba"])
def test_16_bit_pngs_reach_infer_and_pose_maps_scaled_to_8_bit(tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "grey":
        assert cv2.imwrite(str(path), SAMPLES)
        expected = np.repeat(_expected(SAMPLES)[..., None], 3, axis=2)
    else:
        rgb = _rgb16()
        _write_16(
            path,
            np.concatenate([rgb, np.full(SAMPLES.shape + (1,), 40000, np.uint16)], -1)
            if kind == "rgba"
            else rgb,
        )
        expected = _expected(rgb)
    assert (
        Image.open(path).mode == {"grey": "I;16", "rgb": "RGB", "rgba": "RGBA"}[kind]
    )  # what Pillow makes of it
    reference = load_image(path, "reference image")
    assert reference.mode == "RGB" and reference.size == (4, 2)
    assert np.asarray(reference).tolist() == expected.tolist()
    assert load_pose_sequence(path)[0].tolist() == expected.tolist()  # a pose map, same reader


def test_16_bit_grey_keeps_its_exif_orientation_and_tiff_is_scaled_too(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(SAMPLES).save(tmp_path / "turned.png", exif=exif)
    turned = np.asarray(load_image(tmp_path / "turned.png"))[..., 0]
    assert turned.tolist() == np.rot90(_expected(SAMPLES), -1).tolist()
    Image.fromarray(SAMPLES).save(tmp_path / "grey.tif")  # Pillow's I;16 from another format
    assert np.asarray(load_image(tmp_path / "grey.tif"))[..., 1].tolist() == _expected(SAMPLES).tolist()


def test_8_bit_images_are_read_as_before(tmp_path):
    rgb = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3) * 7
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.asarray(load_image(tmp_path / "a.png")).tolist() == rgb.tolist()


def test_evaluate_reads_16_bit_frames_at_their_depth(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth16 = rng.integers(0, 65536, (8, 10, 3), dtype=np.uint16)
    (tmp_path / "gt").mkdir()
    (tmp_path / "gen").mkdir()
    for k in range(2):
        _write_16(tmp_path / "gt" / f"{k}.png", truth16)
        Image.fromarray(_expected(truth16)).save(tmp_path / "gen" / f"{k}.png")  # the same picture, 8 bit
    out = tmp_path / "r.json"
    rc = main(
        ["evaluate", str(tmp_path / "gen"), str(tmp_path / "gt"), "--metrics", "l1,psnr,ssim", "-o", str(out)]
    )
    capsys.readouterr()
    assert rc == 0
    assert json.loads(out.read_text())["metrics"] == {"l1": 0.0, "psnr": 100.0, "ssim": 1.0}


# -- named pipes ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _fifo(path):
    """A named pipe at ``path``; should a reader block on it, a writer opens and closes it after 10 s, so a
    regression fails the test (the reader sees an empty file) instead of hanging the suite."""
    os.mkfifo(path)
    done = threading.Event()

    def unblock():
        if not done.wait(10):
            with open(path, "wb"):
                pass

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        done.set()
        thread.join()


def test_named_pipe_as_reference_image_is_refused_at_once(tmp_path):
    with _fifo(tmp_path / "ref.png") as path, pytest.raises(InputError) as info:
        load_image(path, "reference image")
    assert str(info.value) == (
        f"reference image '{path}' is a named pipe, not a file: pass the path of a .png/.jpg image file"
    )


@pytest.mark.parametrize(
    "name, what", [("poses.npy", "pose source"), ("pose.json", "pose source"), ("pose.png", "pose source")]
)
def test_named_pipe_as_pose_source_is_refused_at_once(tmp_path, name, what):
    with _fifo(tmp_path / name) as path, pytest.raises(PoseInputError) as info:
        load_pose_sequence(path, 64, 64)
    assert str(info.value) == (
        f"{what} '{path}' is a named pipe, not a file: pass a regular file, or a folder "
        "of pose-map images or OpenPose JSON files"
    )


def test_named_pipe_as_openpose_json_is_refused_at_once(tmp_path):
    with _fifo(tmp_path / "f_keypoints.json") as path, pytest.raises(PoseInputError) as info:
        read_openpose_json(path, 64, 64)
    assert str(info.value) == f"OpenPose JSON '{path}' is a named pipe, not a file: pass a regular .json file"


def test_named_pipe_in_a_pose_folder_is_refused_when_opened(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "0.png")
    with _fifo(tmp_path / "1.png") as path, pytest.raises(PoseInputError) as info:
        load_pose_sequence(tmp_path)
    assert (
        str(info.value)
        == f"pose folder entry '{path}' is a named pipe, not a file: remove it from the folder"
    )


def test_named_pipe_among_evaluate_frames_is_refused(tmp_path, capsys):
    for side in ("gen", "gt"):
        (tmp_path / side).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / side / "0.png")
    with _fifo(tmp_path / "gen" / "1.png") as path:
        rc = main(["evaluate", str(tmp_path / "gen"), str(tmp_path / "gt"), "--metrics", "l1"])
    out, err = capsys.readouterr()
    assert (rc, out) == (2, "")
    assert err == f"error: frame '{path}' is a named pipe, not a file: remove it from the folder\n"
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == ["0.png", "1.png"]
