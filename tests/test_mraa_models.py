"""MRAA's networks: the region maths against hand-worked cases, and each network's defining properties."""

import pytest
import torch
from mraa_cases import random_regions

from magicpose.models.mraa_avd import AVDNetwork, regions_to_vector, vector_to_regions
from magicpose.models.mraa_background import BackgroundMotionPredictor
from magicpose.models.mraa_blocks import AntiAliasDownsample, Hourglass, coordinate_grid, gaussian_kernel
from magicpose.models.mraa_generator import MRAAGenerator
from magicpose.models.mraa_regions import (
    RegionPredictor,
    Regions,
    align_axes,
    gaussian_heatmaps,
    heatmap_moments,
    hull_area,
    pca_shape,
    region_motions,
    relative_regions,
)
from magicpose.tiny_models import MRAA_TINY_HOURGLASS

TINY_HOURGLASS = MRAA_TINY_HOURGLASS


def test_coordinate_grid_puts_minus_one_and_one_on_the_outer_pixels():
    grid = coordinate_grid(3, 5)
    assert grid.shape == (3, 5, 2)
    assert grid[0, 0].tolist() == [-1.0, -1.0]
    assert grid[2, 4].tolist() == [1.0, 1.0]
    assert grid[1, 2].tolist() == [0.0, 0.0]
    assert grid[0, 1, 0].item() == pytest.approx(-0.5)


def test_moments_of_a_single_pixel_and_of_a_uniform_heatmap():
    h, w = 5, 7
    spike = torch.zeros(1, 1, h, w)
    spike[0, 0, 1, 5] = 1
    shift, covar = heatmap_moments(spike)
    assert shift[0, 0].tolist() == pytest.approx([5 / 6 * 2 - 1, 1 / 4 * 2 - 1])
    assert covar.abs().max().item() == pytest.approx(0, abs=1e-7)

    uniform = torch.full((1, 1, h, w), 1 / (h * w))
    shift, covar = heatmap_moments(uniform)
    assert shift.abs().max().item() == pytest.approx(0, abs=1e-6)
    grid = coordinate_grid(h, w)
    expected_var = [grid[0, :, 0].pow(2).mean().item(), grid[:, 0, 1].pow(2).mean().item()]
    assert torch.diagonal(covar[0, 0]).tolist() == pytest.approx(expected_var, rel=1e-5)
    assert covar[0, 0, 0, 1].item() == pytest.approx(0, abs=1e-7)


def test_pca_shape_is_a_square_root_of_the_covariance_and_align_axes_undoes_sign_flips():
    regions = random_regions()
    shape = pca_shape(regions.covar)
    assert torch.allclose(shape @ shape.transpose(-1, -2), regions.covar, atol=1e-6)
    flipped = -shape
    assert torch.equal(align_axes(flipped, shape), shape)
    assert torch.equal(align_axes(shape, shape), shape)


def test_gaussians_peak_at_the_centre_and_an_isotropic_covariance_equals_the_scalar_form():
    centre = torch.tensor([[[0.0, 0.0]]])
    scalar = gaussian_heatmaps(centre, 0.01, 9, 9)
    full = gaussian_heatmaps(centre, torch.eye(2).mul(0.01).view(1, 1, 2, 2), 9, 9)
    assert scalar[0, 0, 4, 4].item() == 1.0
    assert scalar.argmax().item() == 4 * 9 + 4
    assert torch.allclose(scalar, full, atol=1e-6)


def test_equal_regions_give_the_identity_motion_and_the_background_matrix_moves_slot_zero():
    regions = random_regions()
    motions = region_motions(regions, regions, 6, 8)
    identity = coordinate_grid(6, 8).expand(2, 4, 6, 8, 2)
    assert motions.shape == (2, 4, 6, 8, 2)
    assert torch.allclose(motions, identity, atol=1e-5)

    translate = torch.eye(3).repeat(2, 1, 1)
    translate[:, 0, 2] = 0.25
    moved = region_motions(regions, regions, 6, 8, background=translate)
    assert torch.allclose(moved[:, 0, ..., 0], identity[:, 0, ..., 0] + 0.25, atol=1e-6)
    assert torch.equal(moved[:, 1:], motions[:, 1:])


def test_a_region_moves_pixels_by_its_centre_shift_and_relative_shape():
    source = Regions(
        torch.tensor([[[0.2, -0.1]]]), torch.eye(2).view(1, 1, 2, 2), 2 * torch.eye(2).view(1, 1, 2, 2)
    )
    driving = Regions(
        torch.tensor([[[0.0, 0.0]]]), torch.eye(2).view(1, 1, 2, 2), torch.eye(2).view(1, 1, 2, 2)
    )
    motions = region_motions(source, driving, 5, 5)
    grid = coordinate_grid(5, 5)
    assert torch.allclose(motions[0, 1], 2 * grid + torch.tensor([0.2, -0.1]), atol=1e-6)


def test_hull_area_ignores_interior_points():
    square = torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.1, 0.2], [0.0, 0.0]]])
    assert hull_area(square).tolist() == pytest.approx([4.0])
    assert hull_area(square * 0.5).tolist() == pytest.approx([1.0])


def test_relative_mode_keeps_the_source_when_the_driver_has_not_moved_and_scales_motion_by_the_hulls():
    source = random_regions(batch=1, k=4, seed=1)
    first = random_regions(batch=1, k=4, seed=2)
    same = relative_regions(source, first, first)
    assert torch.allclose(same.shift, source.shift, atol=1e-6)
    assert torch.allclose(same.affine, source.affine, atol=1e-5)

    bigger_source = source._replace(shift=source.shift * 2)
    moved = first._replace(shift=first.shift + 0.1)
    result = relative_regions(bigger_source, moved, first)
    scale = (hull_area(bigger_source.shift) / hull_area(first.shift)).sqrt()
    assert torch.allclose(result.shift, bigger_source.shift + scale * 0.1, atol=1e-5)


def test_region_predictor_heatmaps_are_distributions_and_shapes_fit_the_covariance():
    torch.manual_seed(0)
    predictor = RegionPredictor(num_regions=5, **TINY_HOURGLASS).eval()
    regions = predictor(torch.rand(2, 3, 64, 64))
    assert regions.heatmap.shape == (2, 5, 16 - 6, 16 - 6)  # 0.25 scale, then the unpadded 7×7 head
    assert torch.allclose(regions.heatmap.sum(dim=(2, 3)), torch.ones(2, 5), atol=1e-5)
    assert regions.shift.shape == (2, 5, 2)
    assert torch.allclose(regions.affine @ regions.affine.transpose(-1, -2), regions.covar, atol=1e-6)


def test_regression_variant_starts_at_identity_shapes():
    predictor = RegionPredictor(num_regions=3, pca_based=False, **TINY_HOURGLASS).eval()
    regions = predictor(torch.rand(1, 3, 64, 64))
    assert torch.allclose(regions.affine, torch.eye(2).expand(1, 3, 2, 2), atol=1e-6)
    assert torch.allclose(regions.covar, torch.eye(2).expand(1, 3, 2, 2), atol=1e-6)


def test_anti_alias_downsample_keeps_a_constant_and_its_kernel_sums_to_one():
    kernel = gaussian_kernel(0.25)
    assert kernel.shape == (13, 13)  # σ = 1.5, size 2·round(6) + 1
    assert kernel.sum().item() == pytest.approx(1.0)
    down = AntiAliasDownsample(3, 0.25)
    out = down(torch.full((1, 3, 32, 32), 0.7))
    assert out.shape == (1, 3, 8, 8)
    assert torch.allclose(out[..., 2:-2, 2:-2], torch.full_like(out[..., 2:-2, 2:-2], 0.7), atol=1e-6)
    assert "weight" in down.state_dict()
    same = AntiAliasDownsample(3, 1.0)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(same(x), x)


def test_hourglass_keeps_the_size_and_adds_its_input_channels():
    net = Hourglass(6, **TINY_HOURGLASS)
    out = net(torch.rand(2, 6, 16, 16))
    assert net.out_channels == 4 + 6
    assert out.shape == (2, 10, 16, 16)


@pytest.mark.parametrize("bg_type", ["zero", "shift", "affine", "perspective"])
def test_background_predictor_starts_at_the_identity(bg_type):
    predictor = BackgroundMotionPredictor(bg_type, **TINY_HOURGLASS)
    matrix = predictor(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert torch.equal(matrix, torch.eye(3).expand(2, 3, 3))


def test_background_predictor_refuses_an_unknown_type():
    with pytest.raises(ValueError, match="bg_type must be one of"):
        BackgroundMotionPredictor("projective")


def tiny_generator(skips=True, **flow):
    return MRAAGenerator(
        num_regions=3,
        block_expansion=4,
        max_features=16,
        num_bottleneck_blocks=1,
        skips=skips,
        flow_params={"block_expansion": 4, "max_features": 16, "num_blocks": 2, **flow},
    )


def test_generator_output_shapes_and_a_still_pose_gives_the_identity_flow():
    torch.manual_seed(0)
    generator = tiny_generator().eval()
    image = torch.rand(2, 3, 32, 32)
    regions = random_regions(k=3)
    out = generator(image, regions, regions)
    assert out.prediction.shape == (2, 3, 32, 32)
    assert out.occlusion.shape == (2, 1, 8, 8)
    assert out.flow.shape == (2, 8, 8, 2)
    assert torch.allclose(out.flow, coordinate_grid(8, 8).expand(2, 8, 8, 2), atol=1e-5)
    assert 0 <= out.prediction.min().item() and out.prediction.max().item() <= 1


def test_generator_output_is_the_warped_source_where_nothing_is_occluded():
    torch.manual_seed(0)
    generator = tiny_generator().eval()
    with torch.no_grad():  # occlusion ≈ 1 everywhere: the last blend keeps only the warped source
        generator.flow_predictor.occlusion_head.weight.zero_()
        generator.flow_predictor.occlusion_head.bias.fill_(40.0)
    image = torch.rand(1, 3, 32, 32)
    out = generator(image, random_regions(batch=1, k=3, seed=3), random_regions(batch=1, k=3, seed=4))
    assert torch.allclose(out.prediction, out.deformed, atol=1e-6)


def test_avd_round_trips_regions_and_ignores_source_axis_sign_flips():
    regions = random_regions(batch=3, k=4)
    vector = regions_to_vector(regions)
    assert vector.shape == (3, 24)
    back = vector_to_regions(vector, 4)
    assert torch.equal(back.shift, regions.shift) and torch.equal(back.affine, regions.affine)

    torch.manual_seed(0)
    avd = AVDNetwork(num_regions=4, id_bottleneck=8, pose_bottleneck=8).eval()
    driving = random_regions(batch=3, k=4, seed=5)
    out = avd(regions, driving)
    flipped = avd(regions._replace(affine=-regions.affine), driving)
    assert out.shift.shape == (3, 4, 2) and out.affine.shape == (3, 4, 2, 2)
    assert torch.equal(out.shift, flipped.shift)
    assert torch.allclose(out.covar, out.affine @ out.affine.transpose(-1, -2))


def test_the_identity_motion_gives_the_source_back_exactly():
    from magicpose.models.mraa_blocks import sample

    image = torch.rand(2, 3, 16, 24)
    grid = coordinate_grid(16, 24).expand(2, 16, 24, 2)
    assert torch.allclose(sample(image, grid), image, atol=1e-6)
