"""The vid2vid generator (``magicpose.models.vid2vid``): the warp, the composite, the coarse-to-fine scales, the
first frame, the layer layout (parameter counts of the original's configurations) and save/load."""

import math

import pytest
import torch
import torch.nn.functional as F

from magicpose.models.vid2vid import FLOW_SCALE, Vid2VidGenerator, downsample_pyramid, warp


def _tiny(**kwargs) -> Vid2VidGenerator:
    torch.manual_seed(0)
    config = dict(ngf=8, n_downsample_G=2, n_blocks=3, n_blocks_local=1, n_scales_spatial=2)
    return Vid2VidGenerator(**{**config, **kwargs}).eval()


def test_warp_by_zero_flow_is_the_image_and_by_whole_pixels_a_shift():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 5, 7)
    assert torch.allclose(warp(image, torch.zeros(2, 2, 5, 7)), image, atol=1e-6)
    right, down = torch.zeros(2, 2, 5, 7), torch.zeros(2, 2, 5, 7)
    right[:, 0], down[:, 1] = 1.0, 2.0
    assert torch.allclose(warp(image, right)[..., :-1], image[..., 1:], atol=1e-6)
    assert torch.allclose(warp(image, right)[..., -1], image[..., -1], atol=1e-6)  # border padding
    assert torch.allclose(warp(image, down)[..., :-2, :], image[..., 2:, :], atol=1e-6)


def test_warp_by_half_a_pixel_is_the_mean_of_the_neighbours():
    image = torch.arange(12.0).view(1, 1, 3, 4)
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 0] = 0.5
    expected = (image[..., :-1] + image[..., 1:]) / 2
    assert torch.allclose(warp(image, flow)[..., :-1], expected, atol=1e-5)


def test_the_pyramid_is_the_border_aware_average_pool():
    x = torch.rand(1, 3, 16, 12)
    pyramid = downsample_pyramid(x, 3)
    assert [p.shape[-2:] for p in pyramid] == [(16, 12), (8, 6), (4, 3)]
    corner = x[0, :, :2, :2].mean(dim=(1, 2))  # 3x3 window at the corner: only the 2x2 pixels that exist
    assert torch.allclose(pyramid[1][0, :, 0, 0], corner, atol=1e-6)
    assert torch.allclose(pyramid[1], F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))


def test_the_composite_is_weight_times_raw_plus_the_rest_times_the_warped_previous_frame():
    generator = _tiny(n_scales_spatial=1)
    torch.manual_seed(1)
    poses, previous = torch.rand(1, 9, 16, 12) * 2 - 1, [torch.rand(1, 6, 16, 12) * 2 - 1]
    with torch.no_grad():
        step = generator(poses, previous)
    expected = step.raw * step.weight + warp(previous[0][:, 3:], step.flow) * (1 - step.weight)
    assert torch.allclose(step.frame, expected, atol=1e-6)
    assert step.frame.shape == (1, 3, 16, 12) and step.flow.shape == (1, 2, 16, 12)
    assert float(step.weight.min()) > 0 and float(step.weight.max()) < 1
    with torch.no_grad():
        first = generator(poses, previous, use_raw_only=True)
    assert torch.equal(first.frame, first.raw)  # the first frames: the hallucinated frame alone


def test_scales_run_coarse_to_fine_and_each_keeps_its_own_previous_frames():
    generator = _tiny()
    previous = generator.initial_previous(2, 32, 24)
    assert [tuple(p.shape) for p in previous] == [(2, 6, 16, 12), (2, 6, 32, 24)]
    assert all(float(p.abs().sum()) == 0 for p in previous)
    torch.manual_seed(2)
    with torch.no_grad():
        step = generator(torch.rand(2, 9, 32, 24), previous, use_raw_only=True)
        assert [tuple(f.shape) for f in step.frames] == [(2, 3, 16, 12), (2, 3, 32, 24)]
        nxt = generator.next_previous(previous, step)
        assert torch.equal(nxt[1][:, 3:], step.frames[1]) and torch.equal(nxt[1][:, :3], previous[1][:, 3:])
        assert torch.equal(nxt[0][:, 3:], step.frames[0])
        # the finest scale's flow is its head's output times 20 * 2
        head = generator.scales[1].model_final_flow[1]
        head.weight.zero_()
        head.bias.fill_(0.25)
        flow = generator(torch.rand(2, 9, 32, 24), nxt).flow
        assert torch.allclose(flow, torch.full((2, 2, 32, 24), 0.25 * FLOW_SCALE * 2))


def test_the_coarse_scale_feeds_the_fine_one():
    generator = _tiny()
    torch.manual_seed(3)
    poses = torch.rand(1, 9, 32, 24)
    previous = [torch.rand(1, 6, 16, 12), torch.rand(1, 6, 32, 24)]
    with torch.no_grad():
        before = generator(poses, previous).frame
        generator.scales[0].model_up_img[0].weight.mul_(2)  # only scale 0 changes
        after = generator(poses, previous).frame
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("ngf, millions", [(128, 364.74), (64, 91.24)])
def test_the_original_configurations_have_its_parameter_counts(ngf, millions):
    """The original's pose2body generator with OpenPose + DensePose input (6 channels): about 365 M parameters
    at ngf 128 and 91 M at ngf 64 (its README and ref notes); built on the meta device, no memory used."""
    with torch.device("meta"):
        generator = Vid2VidGenerator(pose_channels=6, ngf=ngf)
    assert math.isclose(sum(p.numel() for p in generator.parameters()) / 1e6, millions, abs_tol=0.01)


def test_keys_follow_the_original_layout_per_scale():
    keys = set(_tiny().state_dict())
    for name in (
        "model_down_seg.1.weight",
        "model_down_img.1.weight",
        "model_res_img.0.conv_block.1.weight",
        "model_up_img.0.weight",
        "model_final_img.1.weight",
        "model_res_flow.0.conv_block.5.weight",
        "model_up_flow.0.weight",
        "model_final_flow.1.weight",
        "model_final_w.1.weight",
    ):
        assert f"scales.0.{name}" in keys, name
    # a local scale: one downsampling (indices 1 and 4), its ResNet blocks open the heads
    for name in (
        "model_down_seg.4.weight",
        "model_up_img.0.conv_block.1.weight",
        "model_up_img.1.weight",
        "model_up_flow.0.conv_block.1.weight",
        "model_final_w.1.bias",
    ):
        assert f"scales.1.{name}" in keys, name
    assert not any(k.startswith("scales.1.model_res_") for k in keys)
    no_flow = set(_tiny(no_flow=True).state_dict())
    assert not any("flow" in k or "final_w" in k for k in no_flow)


def test_save_and_load_give_the_same_frames(tmp_path):
    generator = _tiny(norm="instance_affine", sample_size=(32, 24))
    generator.save_pretrained(tmp_path / "g")
    loaded = Vid2VidGenerator.from_pretrained(tmp_path / "g").eval()
    torch.manual_seed(4)
    poses, previous = torch.rand(1, 9, 32, 24), generator.initial_previous(1, 32, 24)
    with torch.no_grad():
        assert torch.equal(generator(poses, previous).frame, loaded(poses, previous).frame)
    assert loaded.default_size == (32, 24) and loaded.size_multiple == 8


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="n_frames_G must be at least 2"):
        Vid2VidGenerator(n_frames_G=1)
    with pytest.raises(ValueError, match="n_scales_spatial must be at least 1"):
        Vid2VidGenerator(n_scales_spatial=0)
