import io

import numpy as np
import pytest
from PIL import Image

from magicpose.eval.preprocess import (
    KINETICS_MEAN,
    ClipWindows,
    clip_count,
    fid_input,
    fid_vid_frame,
    fvd_frame,
    gif_round_trip,
    resize_clean,
)


def _video(n: int) -> list[np.ndarray]:
    return [np.full((1, 2, 2), k, np.float32) for k in range(n)]  # frame k holds the value k


@pytest.mark.parametrize("n, length, stride", [(20, 16, 1), (20, 16, 3), (16, 16, 1), (15, 16, 1), (9, 4, 2)])
def test_clip_windows_are_every_full_window(n, length, stride):
    windows = ClipWindows(length, stride)
    clips = [clip for frame in _video(n) for clip in windows.push(frame)]
    starts = list(range(0, n - length + 1, stride))
    assert len(clips) == len(starts) == clip_count(n, length, stride)
    for clip, start in zip(clips, starts):
        assert clip.shape == (1, length, 2, 2)  # (C, T, H, W)
        assert clip[0, :, 0, 0].tolist() == list(range(start, start + length))


def test_clips_never_span_two_videos():
    windows = ClipWindows(4, 1)
    first = [c for f in _video(5) for c in windows.push(f)]
    windows.reset()
    second = [c for f in _video(3) for c in windows.push(f + 100)]
    assert len(first) == 2 and second == []


def test_gif_round_trip_equals_a_frame_of_the_papers_16_frame_gif(tmp_path):
    imageio = pytest.importorskip("imageio")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:56]
    frames = []
    for k in range(16):
        frame = np.stack([(x * 4 + k * 7) % 256, (y * 5 + k * 3) % 256, ((x + y) * 2 + k * 11) % 256], -1)
        frame = frame.astype(np.uint8)
        frame[5:15, 5:25] = rng.integers(0, 256, (10, 20, 3))  # more than 256 colours: the palette quantises
        frames.append(frame)
    path = tmp_path / "clip.gif"
    imageio.mimsave(path, frames, duration=1000 / 3)  # as DisCo's gen_gifs_for_fvd.py writes a clip, 3 fps
    with Image.open(path) as gif:
        for k, frame in enumerate(frames):
            gif.seek(k)
            decoded = np.asarray(gif.convert("RGB"))
            np.testing.assert_array_equal(gif_round_trip(frame), decoded)
    assert not np.array_equal(gif_round_trip(frames[0]), frames[0])  # the round trip does change pixels


def test_gif_round_trip_keeps_a_frame_of_few_colours():
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[2:5, 2:5] = (200, 10, 30)
    np.testing.assert_array_equal(gif_round_trip(frame), frame)


def test_network_inputs_follow_the_protocol():
    frame = np.full((30, 50, 3), 200, np.uint8)
    frame[..., 1] = 20
    assert fid_input(frame).shape == (3, 299, 299)
    np.testing.assert_allclose(fid_input(frame)[:, 100, 100], [200, 20, 200], atol=1e-3)  # 0-255, stretched
    np.testing.assert_allclose(fid_vid_frame(frame)[:, 5, 5], np.array([200, 20, 200]) - KINETICS_MEAN, atol=1e-3)
    np.testing.assert_allclose(fvd_frame(frame)[:, 5, 5], np.array([200, 20, 200]) / 127.5 - 1, atol=1e-5)
    assert fid_vid_frame(frame).shape == (3, 112, 112) and fvd_frame(frame).shape == (3, 224, 224)


def test_clean_resize_is_unquantised_float_bicubic():
    ramp = np.tile(np.arange(0, 256, 8, dtype=np.uint8)[None, :, None], (4, 1, 3))  # 4 x 32, values 0..248
    out = resize_clean(ramp, 7)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 255
    # a quantised (uint8) resize would give integers; the clean one keeps fractions
    assert np.any(np.abs(out - np.round(out)) > 1e-3)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")  # sanity: same as resizing the channel in float directly
    expected = np.asarray(Image.fromarray(ramp[..., 0].astype(np.float32), mode="F").resize((7, 7), Image.BICUBIC))
    np.testing.assert_allclose(out[..., 0], np.clip(expected, 0, 255))
