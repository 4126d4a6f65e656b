"""The face enhancer's crop and paste-back: boxes inside the frame, no pixel changed outside the box, a
feathered (not hard) border."""

import numpy as np
import pytest
import torch

from magicpose.models.face_enhancer import (
    LEFT_EAR,
    NOSE,
    RIGHT_EAR,
    FaceBox,
    crop,
    face_box,
    feather_mask,
    paste_back,
)

W, H = 96, 64


def _body(**points) -> np.ndarray:
    body = np.zeros((18, 3), np.float32)
    for index, (x, y) in points.items():
        body[{"nose": NOSE, "right_ear": RIGHT_EAR, "left_ear": LEFT_EAR}[index]] = (x, y, 1.0)
    return body


def test_box_is_centred_on_the_nose_and_sized_from_the_frame_height():
    box = face_box(_body(nose=(50, 30)), W, H)
    assert box == FaceBox(left=50 - 8, top=30 - 8, size=16)  # a quarter of 64 px


def test_box_falls_back_to_the_ears_then_to_none():
    assert face_box(_body(right_ear=(40, 20), left_ear=(60, 24)), W, H) == FaceBox(42, 14, 16)
    assert face_box(_body(left_ear=(60, 24)), W, H) == FaceBox(52, 16, 16)
    assert face_box(_body(), W, H) is None


@pytest.mark.parametrize("nose", [(0, 0), (W - 1, H - 1), (-20, 30), (W + 5, -7), (3, H - 2)])
def test_boxes_stay_inside_the_frame_for_heads_near_the_border(nose):
    box = face_box(_body(nose=nose), W, H)
    assert 0 <= box.left and box.left + box.size <= W and 0 <= box.top and box.top + box.size <= H
    assert crop(torch.zeros(3, H, W), box).shape == (3, 16, 16)


def test_box_never_exceeds_a_small_frame():
    box = face_box(_body(nose=(5, 5)), 10, 80, size_fraction=0.5)
    assert box.size == 10 and box.left == 0


def test_box_side_is_a_multiple_of_the_face_generator_downsampling():
    assert face_box(_body(nose=(50, 30)), W, H, multiple=8).size == 16
    assert face_box(_body(nose=(50, 30)), W, 40, multiple=8).size == 16  # 10 px rounds to 8, at least 2 x 8
    assert face_box(_body(nose=(50, 30)), W, 100, multiple=8).size == 24  # 25 px rounds to 24
    assert face_box(_body(nose=(5, 5)), 12, 12, multiple=8) is None  # no 16 px box fits


def test_feather_mask_is_one_inside_and_zero_on_the_border():
    mask = feather_mask(16, 4)
    assert mask[0].eq(0).all() and mask[:, -1].eq(0).all()
    assert mask[4:12, 4:12].eq(1).all()
    assert torch.equal(mask, mask.T) and torch.equal(mask, mask.flip(0))
    assert mask[2, 8].item() == pytest.approx(0.5)


def test_hard_paste_writes_the_crop_into_the_box_and_nothing_else():
    g = torch.Generator().manual_seed(1)
    frames = torch.rand(3, H, W, generator=g)
    box = face_box(_body(nose=(90, 60)), W, H)
    enhanced = torch.rand(3, box.size, box.size, generator=g)
    out = paste_back(frames, enhanced, box)
    expected = frames.clone()
    expected[:, box.top : box.top + box.size, box.left : box.left + box.size] = enhanced
    assert torch.equal(out, expected) and not torch.equal(frames, out)
    with pytest.raises(ValueError, match="blend must be"):
        paste_back(frames, enhanced, box, blend="soft")


def test_lotayou_rule_truncates_the_corner_and_needs_the_nose():
    """Lotayou's crop corner is int(nose - crop / 2): at a nose of 30.7 and a 48-px crop, 6 (round: 7); a
    frame without a nose is not enhanced, even with both ears visible."""
    body = _body(nose=(30.7, 32.6))
    floor, rounded = face_box(body, W, H, 48 / H, rule="lotayou"), face_box(body, W, H, 48 / H)
    assert (floor.left, floor.top, floor.size) == (int(30.7 - 24), int(32.6 - 24), 48) == (6, 8, 48)
    assert (rounded.left, rounded.top) == (7, 9)
    ears = _body(right_ear=(30, 40), left_ear=(50, 40))
    assert face_box(ears, W, H, 48 / H, rule="lotayou") is None and face_box(ears, W, H, 48 / H) is not None


def test_paste_back_changes_no_pixel_outside_the_box_and_blends_inside():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 3, H, W, generator=g)
    box = face_box(_body(nose=(90, 60)), W, H)  # near the corner
    enhanced = torch.rand(2, 3, box.size, box.size, generator=g)
    out = paste_back(frames, enhanced, box, blend="feather", feather=4)
    outside = torch.ones(H, W, dtype=torch.bool)
    outside[box.slices()] = False
    assert torch.equal(out[..., outside], frames[..., outside])
    inner = crop(out, box)
    assert torch.equal(inner[..., 0, :], crop(frames, box)[..., 0, :])  # the border keeps the frame's pixels
    assert torch.allclose(
        inner[..., 4:-4, 4:-4], enhanced[..., 4:-4, 4:-4]
    )  # the inside is the enhanced crop
    assert not torch.equal(out, frames)
    for feather in (1, 3, 5):  # an identity enhancer changes nothing, whatever the weights
        assert torch.equal(
            paste_back(frames, crop(frames, box), box, blend="feather", feather=feather), frames
        )
