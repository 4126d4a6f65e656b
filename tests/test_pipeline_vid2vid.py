"""Vid2VidPipeline: the streamed frames equal a literal loop over the generator, one frame per pose (or the
original's start), the output types, save and load."""

import numpy as np
import pytest
import torch

from magicpose.models.vid2vid import Vid2VidGenerator
from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline

H, W = 32, 24


@pytest.fixture(scope="module")
def pipe() -> Vid2VidPipeline:
    torch.manual_seed(0)
    generator = Vid2VidGenerator(
        ngf=8, n_downsample_G=2, n_blocks=3, n_blocks_local=1, n_scales_spatial=2, sample_size=(H, W)
    ).eval()
    pipeline = Vid2VidPipeline(generator=generator)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _poses(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def _literal(generator: Vid2VidGenerator, poses: list[np.ndarray], start: int) -> list[np.ndarray]:
    """The sequential loop written out: a window of the last 3 poses in [-1, 1], zeros before the first frame."""
    tensors = [torch.from_numpy(p).permute(2, 0, 1)[None].float() / 255 * 2 - 1 for p in poses]
    padded = [tensors[0]] * 2 + tensors if start == 0 else tensors
    previous = [torch.zeros(1, 6, H // 2, W // 2), torch.zeros(1, 6, H, W)]
    frames = []
    with torch.no_grad():
        for t in range(start, len(poses)):
            window = padded[t : t + 3] if start == 0 else padded[t - 2 : t + 1]
            step = generator(torch.cat(window, 1), previous, use_raw_only=t == start)
            previous = [torch.cat([p[:, 3:], f], 1) for p, f in zip(previous, step.frames)]
            frames.append(
                ((step.frame[0] + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
            )
    return frames


def test_the_streamed_frames_equal_the_literal_loop(pipe):
    poses = _poses(6)
    streamed = list(pipe.iter_frames(poses, H, W))
    assert len(streamed) == 6
    for got, expected in zip(streamed, _literal(pipe.generator, poses, start=0), strict=True):
        assert np.array_equal(got, expected)
    # frames after the first really are warped from the ones before: they differ from the first
    assert not np.array_equal(streamed[0], streamed[3])


def test_the_original_start_skips_the_poses_that_fill_the_window(pipe):
    poses = _poses(5)
    streamed = list(pipe.iter_frames(poses, H, W, original_start=True))
    assert len(streamed) == 3
    for got, expected in zip(streamed, _literal(pipe.generator, poses, start=2), strict=True):
        assert np.array_equal(got, expected)
    with pytest.raises(ValueError, match="at least n_frames_G = 3 pose maps"):
        list(pipe.iter_frames(poses[:2], H, W, original_start=True))


def test_output_types_and_the_default_size(pipe):
    poses = _poses(2)
    as_np = pipe(pose_images=poses, output_type="np").frames
    assert as_np.shape == (2, H, W, 3) and as_np.dtype == np.float32
    as_pt = pipe(pose_images=poses, output_type="pt").frames
    assert torch.allclose(as_pt.permute(0, 2, 3, 1), torch.from_numpy(as_np))
    as_pil = pipe(pose_images=poses).frames
    assert [im.size for im in as_pil] == [(W, H)] * 2
    assert np.array_equal(np.asarray(as_pil[1]), (as_np[1] * 255).round().astype(np.uint8))
    with pytest.raises(ValueError, match="output_type must be"):
        pipe(pose_images=poses, output_type="latent")
    with pytest.raises(ValueError, match="multiples of 8"):
        pipe(pose_images=poses, height=30, width=24)
    with pytest.raises(ValueError, match="is empty"):
        pipe(pose_images=[])


def test_a_saved_pipeline_loads_and_gives_the_same_frames(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "v2v")
    loaded = Vid2VidPipeline.from_pretrained(tmp_path / "v2v")
    loaded.set_progress_bar_config(disable=True)
    poses = _poses(3)
    assert all(
        np.array_equal(a, b) for a, b in zip(pipe.iter_frames(poses, H, W), loaded.iter_frames(poses, H, W))
    )
    assert (tmp_path / "v2v" / "pipeline_vid2vid.py").is_file()
