"""Pose2VidPipeline against literal transcriptions of the two Everybody Dance Now test loops.

Each transcription below is written from the notes on the originals (``ref-gan-baselines.md`` §2–3 and the
test scripts they describe), step by step as the original runs it, on the raw networks (``.net``) and with
numpy where the original uses numpy; the pipeline must give the same 8-bit frames (within one level).

* official (``test_fullts.py`` + ``pix2pixHD_model_fullts.inference``): label maps in [0, 1]; the first
  frame conditioned on zeros; with a face model, ``I = G(x)`` and ``I[box] += G_f(cat(label[box], I[box]))``;
  the frame fed back is that ``I``; ``tensor2im``: ``(x + 1) / 2 * 255``, clipped, cast to uint8.
* Lotayou (``test_video.py``, then ``face_enhancer/enhance.py`` over the saved frames): label maps in
  [-1, 1]; the body frames fed back before any face work and saved as 8-bit PNGs; the face pass reads each
  saved frame, crops ``crop_size`` px at ``int(nose - crop / 2)`` clamped into the frame, normalises it to
  [-1, 1], adds ``G_f(crop)``, clamps to [-1, 1], casts ``(x + 1) / 2 * 255`` to uint8 and pastes it hard.
  Neither script calls ``.eval()``, so BatchNorm layers normalise with the batch's own statistics.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from tiny_cases import nose_only, random_pose_maps, randomise

from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline

FRAMES = 4
LOCAL = dict(architecture="local", ngf=4, n_downsample_global=2, n_blocks_global=2, n_blocks_local=1)
GLOBAL = dict(architecture="global", ngf=8, n_downsample_global=3, n_blocks_global=2, n_blocks_local=0)


def _trained(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Biases, BatchNorm affine parameters and running statistics set at random, as a trained model has them."""
    return randomise(model, seed, scale=0.2, weights=True)


def _noses(size: int) -> list[tuple[int, int] | None]:
    """Integer (x, y) noses (Lotayou's poses.npy holds integers), one frame without a head, one near a border."""
    return [(size // 2, size // 3), (size // 3 + 1, size // 3 - 1), None, (size - 3, 2)][:FRAMES]


def _tensor2im(frame: torch.Tensor) -> np.ndarray:
    """EDN's util.tensor2im of a (3, H, W) tensor."""
    image = (np.transpose(frame.detach().cpu().float().numpy(), (1, 2, 0)) + 1) / 2.0 * 255.0
    return np.clip(image, 0, 255).astype(np.uint8)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """torchvision's ToTensor of an (H, W, 3) uint8 array."""
    return torch.from_numpy(image.transpose(2, 0, 1).copy()).float().div(255)


def _as_run(network: torch.nn.Module) -> torch.nn.Module:
    """The network as the original scripts run it: never switched to eval mode (a copy, so the training-mode
    BatchNorm updates no statistics the pipeline reads)."""
    return copy.deepcopy(network).train()


# -- the transcriptions ---------------------------------------------------------------------------------


@torch.no_grad()
def official_test_loop(generator, face, labels, boxes) -> list[np.ndarray]:
    """test_fullts.py: ``generated = model.inference(label, previous_cond, face_coords)``, then
    ``previous_cond = generated.data``; inference adds the face residual in place on a clone."""
    net_g, net_f = _as_run(generator.net), (_as_run(face.net) if face is not None else None)
    frames, previous_cond = [], None
    for label_image, box in zip(labels, boxes):
        label = _to_tensor(label_image)[None]  # label_nc 6 of the official scripts: not normalised
        if previous_cond is None:
            previous_cond = torch.zeros(label.size())
        initial = net_g(torch.cat((label, previous_cond), dim=1))
        generated = initial
        if net_f is not None and box is not None:
            miny, maxy, minx, maxx = box
            face_label = label[:, :, miny:maxy, minx:maxx]
            residual = net_f(torch.cat((face_label, initial[:, :, miny:maxy, minx:maxx]), dim=1))
            generated = initial.clone()
            generated[:, :, miny:maxy, minx:maxx] = initial[:, :, miny:maxy, minx:maxx] + residual
        previous_cond = generated.data
        frames.append(_tensor2im(generated.data[0]))
    return frames


@torch.no_grad()
def lotayou_test_loop(generator, face, labels, noses, crop_size) -> list[np.ndarray]:
    """test_video.py (body frames, fed back before any face work, saved as 8-bit), then enhance.py over the
    saved frames."""
    net_g = _as_run(generator.net)
    saved, prev_frame = [], None
    for label_image in labels:
        label = (_to_tensor(label_image) - 0.5) / 0.5  # Normalize([.5] * 3, [.5] * 3)
        if prev_frame is None:
            prev_frame = torch.zeros_like(label)
        cur_frame = net_g(torch.cat((label[None], prev_frame[None]), dim=1))
        prev_frame = cur_frame.data[0]
        saved.append(_tensor2im(prev_frame))
    if face is None:
        return saved
    net_f = _as_run(face.net)
    height, width = saved[0].shape[:2]
    video = []
    for fake_full, nose in zip(saved, noses):
        fake_full = fake_full.copy()
        if nose is None:  # (enhance.py would enhance the next frame with a nose in its place; see the README)
            video.append(fake_full)
            continue
        head_row, head_col = nose[1], nose[0]  # poses.npy is (row, col)
        left = int(head_col - crop_size / 2)
        left = left if left >= 0 else 0
        left = width - crop_size if left + crop_size > width else left
        top = int(head_row - crop_size / 2)
        top = top if top >= 0 else 0
        top = height - crop_size if top + crop_size > height else top
        fake_head = (_to_tensor(fake_full[top : top + crop_size, left : left + crop_size, :]) - 0.5) / 0.5
        fake_head = fake_head[None]
        enhanced = fake_head + net_f(fake_head)
        enhanced = enhanced[0].permute(1, 2, 0).numpy()  # torch2numpy
        enhanced[enhanced < -1] = -1
        enhanced[enhanced > 1] = 1
        fake_full[top : top + crop_size, left : left + crop_size, :] = ((enhanced + 1) / 2 * 255).astype(
            np.uint8
        )
        video.append(fake_full)
    return video


# -- the pipeline against them ----------------------------------------------------------------------------


def _pipeline_frames(generator, face, labels, keypoints, size) -> np.ndarray:
    pipe = Pose2VidPipeline(generator=generator, face_enhancer=face)
    return np.stack(list(pipe.iter_frames(labels, size, size, pose_keypoints=keypoints)))


def _levels(a, b) -> int:
    return int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())


@pytest.mark.parametrize("architecture", ["global", "local"])
def test_official_body_generator_loop(architecture):
    size = 64
    generator = _trained(
        Pose2VidGenerator(**(GLOBAL if architecture == "global" else LOCAL), pose_range="unit"), 1
    )
    labels = random_pose_maps(FRAMES, size)
    expected = official_test_loop(generator, None, labels, [None] * FRAMES)
    got = _pipeline_frames(generator, None, labels, None, size)
    assert _levels(got, expected) <= 1
    assert np.array_equal(got, np.stack(expected))  # in fact identical, the same float32 operations


@pytest.mark.parametrize("variant, ngf, size", [("official", 8, 64), ("official_unet", 4, 128)])
def test_official_loop_with_its_face_model(variant, ngf, size):
    """The official face models (global, and the default U-Net with training-mode BatchNorm): the residual on
    the float frame, pasted in place, and the enhanced frame fed back."""
    generator = _trained(Pose2VidGenerator(**LOCAL, pose_range="unit"), 2)
    sizes = dict(ngf=ngf) if variant == "official_unet" else dict(ngf=ngf, n_downsampling=3, n_blocks=1)
    face = _trained(FaceEnhancer(variant=variant, **sizes), 3)
    labels, noses = random_pose_maps(FRAMES, size, 1), _noses(size)
    got = _pipeline_frames(generator, face, labels, [nose_only(nose, size) for nose in noses], size)
    boxes = []  # the boxes the pipeline crops (the official reads them from data prep's face texts)
    side = (
        size // 4 if variant == "official" else 64
    )  # a quarter of the height, at least 2 x 32 for the U-Net
    for nose in noses:
        if nose is None:
            boxes.append(None)
            continue
        left = min(max(nose[0] - side // 2, 0), size - side)
        top = min(max(nose[1] - side // 2, 0), size - side)
        boxes.append((top, top + side, left, left + side))
    expected = official_test_loop(generator, face, labels, boxes)
    assert _levels(got, expected) <= 1
    plain = official_test_loop(generator, None, labels, [None] * FRAMES)
    assert _levels(got, plain) > 10  # the face model ran and its frames were fed back


def test_lotayou_loop_with_its_face_model():
    """Lotayou's release: 48 px in 288 (here 1/6 of 72 px-high frames: 12 px), the face alone into a
    BatchNorm generator normalising each crop by itself, on the saved 8-bit frames, never fed back."""
    size = 72
    generator = _trained(Pose2VidGenerator(**LOCAL, pose_range="signed"), 4)
    face = _trained(FaceEnhancer(variant="lotayou", ngf=8, n_blocks=1, size_fraction=1 / 6), 5)
    labels, noses = random_pose_maps(FRAMES, size, 2), _noses(size)
    got = _pipeline_frames(generator, face, labels, [nose_only(nose, size) for nose in noses], size)
    expected = lotayou_test_loop(generator, face, labels, noses, crop_size=12)
    assert _levels(got, expected) <= 1
    assert np.array_equal(got, np.stack(expected))
    body_only = lotayou_test_loop(generator, None, labels, noses, crop_size=12)
    changed = (got != np.stack(body_only)).any(-1)
    assert changed[0].sum() > 0 and not changed[2].any()  # a face on frame 0; frame 2 has no nose
    rows, cols = np.nonzero(changed[0])
    assert rows.min() >= 24 - 6 and cols.max() < 36 + 6  # inside the 12-px box at the nose (36, 24)
