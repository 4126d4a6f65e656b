import inspect

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import magicpose.eval
from magicpose.eval import metrics


def test_the_package_exports_each_metric_of_its_metrics_module():
    """``from magicpose.eval import psnr``, as the benchmarks write it, gives the functions tested here: every
    public function of magicpose.eval.metrics but ``grey``, the conversion inside ``ssim``."""
    public = {
        name
        for name, value in vars(metrics).items()
        if inspect.isfunction(value) and value.__module__ == metrics.__name__ and not name.startswith("_")
    }
    assert sorted(magicpose.eval.__all__) == sorted(public - {"grey"})
    assert all(getattr(magicpose.eval, name) is getattr(metrics, name) for name in magicpose.eval.__all__)


def test_psnr_of_a_constant_offset_follows_the_formula():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert metrics.psnr(a, a) == float("inf")
    assert metrics.psnr(a, a + 10) == pytest.approx(10 * np.log10(255**2 / 100))


def _reference_ssim(x, y):
    """Straightforward SSIM: Gaussian weights applied window by window (reflect padding)."""
    ax = np.arange(11) - 5
    g = np.exp(-(ax**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    xp, yp = np.pad(x, 5, mode="symmetric"), np.pad(y, 5, mode="symmetric")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            px, py = xp[i : i + 11, j : j + 11], yp[i : i + 11, j : j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * px * px).sum() - mx**2, (w * py * py).sum() - my**2
            cxy = (w * px * py).sum() - mx * my
            values.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_gaussian_ssim_matches_a_window_by_window_reference():
    rng = np.random.RandomState(0)
    a = rng.randint(0, 256, (20, 24)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.randint(-40, 40, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim_gaussian(a, a) == pytest.approx(1.0)
    assert metrics.ssim_gaussian(a, b) == pytest.approx(
        _reference_ssim(a.astype(float), b.astype(float)), abs=1e-9
    )
    assert metrics.ssim_gaussian(a, b) < 0.99


def _pair(seed: int, shape=(37, 53, 3), noise: int = 40):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    base = np.stack([(x * 5) % 256, (y * 7) % 256, (x + y) * 2 % 256], -1)[..., : shape[2]]
    a = np.clip(base + rng.randint(-noise, noise, shape), 0, 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.randint(-noise, noise, shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_papers_ssim_is_scikit_image_defaults_on_opencv_grey(seed):
    a, b = _pair(seed)
    ga, gb = metrics.grey(a), metrics.grey(b)
    # OpenCV's integer luma, the conversion DisCo applies before scikit-image
    expected_grey = np.floor(a.astype(float) @ [0.299, 0.587, 0.114] + 0.5)
    assert np.abs(ga.astype(float) - expected_grey).max() <= 1
    assert metrics.ssim(a, b) == pytest.approx(structural_similarity(ga, gb), abs=1e-12)
    assert metrics.ssim(ga, gb) == pytest.approx(structural_similarity(ga, gb), abs=1e-12)
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim(a, b) != pytest.approx(
        metrics.ssim_gaussian(a, b), abs=1e-3
    )  # the two SSIMs are different numbers


def test_psnr_and_l1_against_scikit_image_and_by_hand():
    a, b = _pair(3)
    assert metrics.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255), abs=1e-10)
    assert metrics.psnr(a, a, identical=100.0) == 100.0
    c = np.full((4, 8, 3), 50, np.uint8)
    assert metrics.l1(c, c + 10) == pytest.approx(10 / 255)
    assert metrics.l1_disco(c, c + 10) == pytest.approx(10 / 32)  # DisCo divides the 0-255 mean by H*W


def test_papers_psnr_wraps_around_in_uint8():
    a, b = _pair(4)
    wrapped = ((a.astype(np.int64) - b) % 256) ** 2 % 256  # both the difference and its square wrap
    assert metrics.psnr_disco(a, b) == pytest.approx(20 * np.log10(255 / np.sqrt(wrapped.mean())), abs=1e-10)
    c = np.full((8, 8, 3), 100, np.uint8)
    assert metrics.psnr(c, c + 16) == pytest.approx(10 * np.log10(255**2 / 256))  # 24.05 dB
    assert metrics.psnr_disco(c, c + 16) == 100.0  # 16 ** 2 = 256 wraps to 0: "identical"
    assert metrics.psnr_disco(c, c + 1) == pytest.approx(metrics.psnr(c, c + 1))  # small errors agree


def test_foreground_mask_and_iou():
    background = np.zeros((10, 10, 3), np.uint8)
    image = background.copy()
    image[2:6, 2:6] = 200
    mask = metrics.foreground_mask(image, background)
    assert mask.sum() == 16
    other = np.zeros((10, 10), bool)
    other[4:8, 2:6] = True  # overlaps 8 of 16 pixels; union 24
    assert metrics.foreground_iou(mask, other) == pytest.approx(8 / 24)
    assert metrics.foreground_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
