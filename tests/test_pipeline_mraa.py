"""MRAAPipeline: the three modes, streaming, save/load, and its refusals."""

import numpy as np
import pytest

from magicpose.pipelines.pipeline_mraa import MRAAPipeline
from magicpose.tiny_models import make_mraa_pipeline


def tiny_pipeline(avd=True, seed=0) -> MRAAPipeline:
    return make_mraa_pipeline(seed=seed, avd=avd)


def frames(n=3, size=40, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("mode", ["standard", "relative", "avd"])
def test_each_mode_gives_one_frame_per_driving_frame_at_the_trained_size(mode):
    pipe = tiny_pipeline()
    source, *driving = frames(4)
    out = pipe(image=source, driving_frames=driving, mode=mode, output_type="np").frames
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1


def test_modes_differ_and_relative_with_a_still_driver_is_the_standard_of_the_source_itself():
    pipe = tiny_pipeline()
    source, first, second = frames(3)
    outputs = {
        m: pipe(image=source, driving_frames=[first, second], mode=m, output_type="np").frames
        for m in ("standard", "relative", "avd")
    }
    assert not np.array_equal(outputs["standard"], outputs["relative"])
    assert not np.array_equal(outputs["standard"], outputs["avd"])
    # relative: a driver that has not moved since its first frame leaves the source's regions where they are,
    # which is what driving the source with itself does in standard mode
    still = pipe(image=source, driving_frames=[first], mode="relative", output_type="np").frames
    itself = pipe(image=source, driving_frames=[source], mode="standard", output_type="np").frames
    assert np.abs(still - itself).max() <= 1 / 255


def test_streamed_frames_equal_the_whole_call_and_come_one_at_a_time():
    pipe = tiny_pipeline()
    source, *driving = frames(4)
    whole = pipe(image=source, driving_frames=driving, output_type="np").frames
    produced = []
    stream = pipe.iter_frames(source, iter(driving), callback=produced.append)
    first = next(stream)
    assert produced == [0]
    rest = list(stream)
    assert np.array_equal(np.stack([first, *rest]).astype(np.float32) / 255, whole)


def test_save_and_reload_gives_the_same_frames(tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path / "mraa")
    loaded = MRAAPipeline.from_pretrained(tmp_path / "mraa")
    source, *driving = frames(3)
    for mode in ("standard", "avd"):
        a = pipe(image=source, driving_frames=driving, mode=mode, output_type="np").frames
        b = loaded(image=source, driving_frames=driving, mode=mode, output_type="np").frames
        assert np.array_equal(a, b)


def test_refusals_are_one_line_errors():
    pipe = tiny_pipeline(avd=False)
    source, *driving = frames(2)
    with pytest.raises(ValueError, match="mode must be one of"):
        pipe(image=source, driving_frames=driving, mode="absolute")
    with pytest.raises(ValueError, match="needs the AVD network"):
        pipe(image=source, driving_frames=driving, mode="avd")
    with pytest.raises(ValueError, match="multiples of 16"):
        pipe(image=source, driving_frames=driving, height=40, width=40)
    with pytest.raises(ValueError, match="empty"):
        pipe(image=source, driving_frames=[])
