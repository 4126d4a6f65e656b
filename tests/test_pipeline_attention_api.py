"""The reference bank under diffusers' attention-processor API: every standard switch keeps the appearance
control working (or refuses in one line), and building or calling a pipeline leaves a shared UNet as it was."""

import numpy as np
import pytest
from diffusers import StableDiffusionControlNetPipeline
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0
from test_pipeline_equivalence import SIZE, _images, _run, _unguided_controlnet_images

from magicpose import MagicPosePipeline
from magicpose.tiny_models import make_components

REFERENCE, POSES = _images(1, 31)[0], _images(2, 32)


def _pipe(components=None, seed=8):
    pipe = MagicPosePipeline(**(components or make_components("tiny", seed=seed)))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _frames(pipe, **kwargs):
    return _run(pipe, REFERENCE, POSES, seed=4, **kwargs)


@pytest.fixture(scope="module")
def default_frames():
    pipe = _pipe()
    return _frames(pipe), _frames(pipe, appearance_control=False)


def _state(unet):
    """What a pipeline could change on a UNet: its processors (by identity) and the hooks on its modules."""
    return (
        {k: id(v) for k, v in unet.attn_processors.items()},
        sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in unet.modules()),
    )


def _close(a, b, tol=1e-5):
    return np.abs(a - b).max() <= tol


@pytest.mark.parametrize(
    "switch",
    [
        "set_attn_processor_2_0",
        "set_attn_processor_classic",
        "set_default",
        "attention_slicing_1",
        "attention_slicing_auto",
        "user_processor",
    ],
)
def test_standard_attention_switches_keep_the_reference(switch, default_frames):
    with_reference, without_reference = default_frames
    pipe = _pipe()
    calls = []

    class CountingProcessor(AttnProcessor2_0):
        def __call__(self, attn, hidden_states, encoder_hidden_states=None, **kwargs):
            calls.append(None if encoder_hidden_states is None else encoder_hidden_states.shape[1])
            return super().__call__(attn, hidden_states, encoder_hidden_states, **kwargs)

    for unet in (pipe.unet, pipe.appearance_unet):
        if switch == "set_attn_processor_2_0":
            unet.set_attn_processor(AttnProcessor2_0())
        elif switch == "set_attn_processor_classic":
            unet.set_attn_processor(AttnProcessor())
        elif switch == "set_default":
            unet.set_default_attn_processor()
        elif switch == "user_processor":
            unet.set_attn_processor(CountingProcessor())
    if switch == "attention_slicing_1":
        pipe.enable_attention_slicing(1)
    elif switch == "attention_slicing_auto":
        pipe.enable_attention_slicing("auto")
    frames = _frames(pipe)
    assert _close(frames, with_reference)
    assert not _close(frames, without_reference, 1e-3)  # the reference still changes the frames
    if switch == "user_processor":
        # the user's processor ran every layer; the main UNet's attn1 saw [own ; reference] tokens (twice its own)
        assert len(calls) > 0 and any(c is not None and c % 2 == 0 and c > 77 for c in calls)


def test_building_and_calling_a_pipeline_leaves_a_shared_unet_as_it_was():
    components = make_components("tiny", seed=8)
    before = {name: _state(components[name]) for name in ("unet", "appearance_unet")}
    pipe = _pipe(components)
    _frames(pipe)
    MagicPosePipeline.from_pipe(pipe)
    assert {name: _state(components[name]) for name in ("unet", "appearance_unet")} == before
    assert before["unet"][1] == 0  # no hooks were there, none are left


def test_stopping_mid_call_detaches_the_bank():
    components = make_components("tiny", seed=8)
    before = _state(components["unet"])
    pipe = _pipe(components)

    def fail(p, i, t, kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _frames(pipe, callback_on_step_end=fail)
    assert _state(components["unet"]) == before and pipe.bank.mode == "off" and not pipe.bank.features


def test_other_pipelines_on_the_same_unet_are_unaffected(default_frames):
    """A diffusers ControlNet pipeline sharing the UNet gives the same images before and after MagicPose samples,
    and from_pipe in both directions gives working pipelines."""
    magic = _pipe()
    sd = StableDiffusionControlNetPipeline.from_pipe(
        magic, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    sd.set_progress_bar_config(disable=True)

    def sd_image():
        return _unguided_controlnet_images(sd, POSES[0], seed=4, num_inference_steps=3)

    first = sd_image()
    assert _close(_frames(magic), default_frames[0])
    assert np.array_equal(sd_image(), first)
    back = MagicPosePipeline.from_pipe(magic)
    assert back.unet is magic.unet and _close(_frames(back), default_frames[0])


def test_fused_projections_are_refused_in_one_line():
    pipe = _pipe()
    pipe.unet.fuse_qkv_projections()
    with pytest.raises(ValueError, match=r"unet\.unfuse_qkv_projections\(\)"):
        _frames(pipe)
    pipe.unet.unfuse_qkv_projections()
    assert _frames(pipe).shape == (2, SIZE, SIZE, 3)
