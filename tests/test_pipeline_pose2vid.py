"""Pose2VidPipeline: the autoregressive recursion, save/load, streaming, the face enhancer's paste-back."""

import numpy as np
import pytest
import torch
from tiny_cases import nose_only, random_pose_maps

from magicpose.models.face_enhancer import crop, face_box
from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline

SIZE = 32


def _pipeline(face: bool = False, **face_config) -> Pose2VidPipeline:
    torch.manual_seed(0)
    generator = Pose2VidGenerator(ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1).eval()
    enhancer = FaceEnhancer(variant="official", **face_config).eval() if face else None
    pipe = Pose2VidPipeline(generator=generator, face_enhancer=enhancer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_each_frame_is_the_generator_on_its_pose_and_the_previous_frame():
    pipe, poses = _pipeline(), random_pose_maps(3, SIZE)
    frames = pipe(pose_images=poses, height=SIZE, width=SIZE, output_type="np").frames
    previous = None
    with torch.no_grad():
        for i, pose in enumerate(poses):
            x = torch.from_numpy(pose).permute(2, 0, 1)[None].float() / 127.5 - 1  # "signed" pose range
            out = pipe.generator.net(torch.cat([x, torch.zeros_like(x) if previous is None else previous], 1))
            previous = out
            # 8 bit as EDN's tensor2im: scaled, clipped, truncated
            expected = ((out[0] + 1) / 2 * 255).clamp(0, 255).floor().permute(1, 2, 0).numpy() / 255
            assert np.abs(frames[i] - expected).max() < 1e-6
    assert not np.array_equal(frames[1], frames[2])


def test_save_load_and_streaming_give_the_same_frames(tmp_path):
    pipe, poses = _pipeline(face=True), random_pose_maps(3, SIZE)
    pipe.save_pretrained(tmp_path)
    loaded = Pose2VidPipeline.from_pretrained(tmp_path)
    a = pipe(pose_images=poses, height=SIZE, width=SIZE, output_type="np").frames
    b = loaded(pose_images=poses, height=SIZE, width=SIZE, output_type="np").frames
    streamed = np.stack(list(loaded.iter_frames(poses, SIZE, SIZE)))
    assert np.array_equal(a, b) and np.array_equal(streamed, (b * 255).round().astype(np.uint8))
    assert loaded.face_enhancer.config.paste == "hard" and loaded.face_enhancer.feeds_back_enhanced


@pytest.mark.parametrize("feedback", ["body", None])
def test_face_enhancer_changes_only_the_head_box_and_skips_headless_frames(feedback):
    """feedback "body": the face never reaches the next frame; the official loop (None: the variant's own)
    feeds the enhanced frame back, so the frame after a face differs everywhere."""
    poses = random_pose_maps(3, SIZE)
    keypoints = [nose_only((10, 12), SIZE), nose_only(None, SIZE), nose_only((30, 30), SIZE)]
    plain = np.stack(
        list(_pipeline(face=True).iter_frames(poses, SIZE, SIZE))
    )  # no keypoints: no enhancement
    assert np.array_equal(plain, np.stack(list(_pipeline().iter_frames(poses, SIZE, SIZE))))
    pipe = _pipeline(face=True, feedback=feedback)
    enhanced = np.stack(list(pipe.iter_frames(poses, SIZE, SIZE, pose_keypoints=keypoints)))
    for i in (0, 2) if feedback == "body" else (0,):
        box = face_box(keypoints[i].people[0].body, SIZE, SIZE, multiple=8)  # the official enhancer
        outside = np.ones((SIZE, SIZE), bool)
        outside[box.slices()] = False
        assert np.array_equal(enhanced[i][outside], plain[i][outside])
        assert not np.array_equal(
            crop(torch.from_numpy(enhanced[i]).permute(2, 0, 1), box),
            crop(torch.from_numpy(plain[i]).permute(2, 0, 1), box),
        )
    # no head on frame 1: unchanged, unless the enhanced frame 0 was fed back
    assert np.array_equal(enhanced[1], plain[1]) == (feedback == "body")


def test_bad_size_and_empty_poses_are_refused():
    pipe = _pipeline()
    with pytest.raises(ValueError, match="multiples of 8"):
        pipe(pose_images=random_pose_maps(1, SIZE), height=36, width=32)
    with pytest.raises(ValueError, match="empty"):
        pipe(pose_images=[], height=SIZE, width=SIZE)
