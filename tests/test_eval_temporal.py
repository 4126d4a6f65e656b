"""frame_difference_error: 0 for a video that changes as the real one, the motion's size for a frozen one,
grows with flicker, and ignores a constant per-frame error."""

import numpy as np
import pytest

from magicpose.eval.temporal import frame_difference_error


def _video(n=5, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def test_a_constant_offset_changes_nothing_and_a_frozen_video_scores_the_real_motion():
    real = [np.full((4, 4, 3), 10 * t, np.uint8) for t in range(5)]  # brightens by 10 levels per frame
    shifted = [f + 3 for f in real]
    assert frame_difference_error(shifted, real) == 0.0
    frozen = [real[0]] * 5
    assert frame_difference_error(frozen, real) == pytest.approx(10 / 255)


def test_flicker_raises_it_and_the_literal_definition_agrees():
    real = _video()
    flicker = [
        np.clip(f.astype(int) + (12 if t % 2 else -12), 0, 255).astype(np.uint8) for t, f in enumerate(real)
    ]
    error = frame_difference_error(flicker, real)
    literal = (
        np.mean(
            [
                np.abs((flicker[t].astype(float) - flicker[t - 1]) - (real[t].astype(float) - real[t - 1]))
                for t in range(1, 5)
            ]
        )
        / 255
    )
    assert error == pytest.approx(literal) and error > 0.05


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="3 generated frames but 2 real ones"):
        frame_difference_error(_video(3), _video(2))
    with pytest.raises(ValueError, match="at least 2 frames"):
        frame_difference_error(_video(1), _video(1))
