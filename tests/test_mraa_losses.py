"""MRAA's losses: the random warp, its Jacobian, the equivariance terms and the perceptual pyramid."""

import pytest
import torch
from mraa_cases import random_regions

from magicpose.models.losses import VGGPerceptualLoss
from magicpose.models.mraa_regions import Regions
from magicpose.training.mraa_losses import PerceptualPyramidLoss, RandomWarp, equivariance_losses


def test_a_warp_without_noise_is_the_identity_on_points_and_images():
    warp = RandomWarp(2, sigma_affine=0.0, sigma_tps=0.0)
    points = torch.rand(2, 7, 2) * 2 - 1
    assert torch.allclose(warp.warp_points(points), points, atol=1e-7)
    image = torch.rand(2, 3, 12, 10)
    assert torch.allclose(warp.warp_image(image), image, atol=1e-6)


def test_the_jacobian_of_an_affine_warp_is_its_matrix_and_of_a_spline_matches_finite_differences():
    g = torch.Generator().manual_seed(0)
    affine = RandomWarp(2, sigma_affine=0.1, sigma_tps=0.0, generator=g)
    points = torch.rand(2, 4, 2) * 2 - 1
    assert torch.allclose(affine.jacobian(points), affine.theta[:, None, :, :2].expand(2, 4, 2, 2), atol=1e-6)

    spline = RandomWarp(1, sigma_affine=0.05, sigma_tps=0.05, generator=g)
    point = torch.tensor([[[0.3, -0.2]]], dtype=torch.float64)
    spline.theta, spline.weights = spline.theta.double(), spline.weights.double()
    analytic = spline.jacobian(point)[0, 0]
    eps = 1e-6
    for column in range(2):
        step = torch.zeros_like(point)
        step[..., column] = eps
        numeric = (spline.warp_points(point + step) - spline.warp_points(point - step))[0, 0] / (2 * eps)
        assert torch.allclose(analytic[:, column], numeric, atol=1e-7)


def test_equivariance_terms_vanish_for_consistent_regions_and_measure_a_misplaced_centre():
    warp = RandomWarp(2, sigma_affine=0.0, sigma_tps=0.0)
    found = random_regions()
    shift_term, affine_term = equivariance_losses(found, found, warp)
    assert shift_term.item() == pytest.approx(0, abs=1e-7)
    assert affine_term.item() == pytest.approx(0, abs=1e-6)

    moved = found._replace(shift=found.shift + 0.1)
    shift_term, _ = equivariance_losses(found, moved, warp)
    assert shift_term.item() == pytest.approx(0.1, abs=1e-6)
    flipped = found._replace(affine=-found.affine)  # an SVD sign flip is no error
    assert equivariance_losses(found, flipped, warp)[1].item() == pytest.approx(0, abs=1e-6)


def test_regions_found_on_a_warped_frame_map_back_through_the_warp():
    g = torch.Generator().manual_seed(3)
    warp = RandomWarp(1, sigma_affine=0.05, sigma_tps=0.005, generator=g)
    truth = random_regions(batch=1)
    # regions 𝒯 maps onto ``truth``: solve 𝒯(μ') = μ by fixed-point iteration on the small perturbation
    inverse = truth.shift.clone()
    for _ in range(50):
        inverse = inverse - (warp.warp_points(inverse) - truth.shift)
    jac = warp.jacobian(inverse)
    warped = Regions(inverse, truth.covar, torch.linalg.inv(jac) @ truth.affine)
    shift_term, affine_term = equivariance_losses(truth, warped, warp)
    assert shift_term.item() < 1e-6 and affine_term.item() < 1e-5


def test_pyramid_without_vgg_sums_the_l1_of_each_level():
    loss = PerceptualPyramidLoss(None, l1_weight=2.0)
    target = torch.rand(1, 3, 32, 32)
    assert loss(target, target).item() == 0.0
    shifted = loss(target + 0.25, target).item()
    # the levels are linear, so an offset of 0.25 costs 0.25 times each level's image of ones (1 at full size;
    # below it the blur's zero padding darkens the border)
    ones = torch.ones(1, 3, 32, 32)
    expected = sum(2.0 * 0.25 * level.mean().item() for level in loss.pyramid(ones))
    assert shifted == pytest.approx(expected, rel=1e-5)
    assert loss.pyramid(ones)[0].mean().item() == 1.0 and len(loss.pyramid(ones)) == 4


def test_pyramid_with_vgg_is_zero_for_equal_images_and_only_the_prediction_gets_gradients():
    torch.manual_seed(0)
    loss = PerceptualPyramidLoss(VGGPerceptualLoss())
    # 128 px: the pyramid's smallest level (16 px) still reaches relu5_1 through VGG's four poolings
    target = torch.rand(1, 3, 128, 128, requires_grad=True)
    prediction = torch.rand(1, 3, 128, 128, requires_grad=True)
    assert loss(target, target).item() == 0.0
    value = loss(prediction, target)
    value.backward()
    assert value.item() > 0
    assert prediction.grad.abs().sum().item() > 0
    assert target.grad is None


def test_a_rows_warp_depends_only_on_its_own_generator():
    def gens(*seeds):
        return [torch.Generator().manual_seed(s) for s in seeds]

    pair = RandomWarp(2, generator=gens(7, 8))
    alone = RandomWarp(1, generator=gens(8))
    assert torch.equal(pair.theta[1:], alone.theta) and torch.equal(pair.weights[1:], alone.weights)
    with pytest.raises(ValueError, match="one generator per row"):
        RandomWarp(3, generator=gens(1, 2))
