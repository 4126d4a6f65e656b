import numpy as np
import pytest

from magicpose.eval import foreground_iou, foreground_mask, psnr, ssim


def test_psnr_of_a_constant_offset_follows_the_formula():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(a, a) == float("inf")
    assert psnr(a, a + 10) == pytest.approx(10 * np.log10(255**2 / 100))


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
            px, py = xp[i:i + 11, j:j + 11], yp[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * px * px).sum() - mx**2, (w * py * py).sum() - my**2
            cxy = (w * px * py).sum() - mx * my
            values.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_matches_a_window_by_window_reference():
    rng = np.random.RandomState(0)
    a = rng.randint(0, 256, (20, 24)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.randint(-40, 40, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(_reference_ssim(a.astype(float), b.astype(float)), abs=1e-9)
    assert ssim(a, b) < 0.99


def test_foreground_mask_and_iou():
    background = np.zeros((10, 10, 3), np.uint8)
    image = background.copy()
    image[2:6, 2:6] = 200
    mask = foreground_mask(image, background)
    assert mask.sum() == 16
    other = np.zeros((10, 10), bool)
    other[4:8, 2:6] = True  # overlaps 8 of 16 pixels; union 24
    assert foreground_iou(mask, other) == pytest.approx(8 / 24)
    assert foreground_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
