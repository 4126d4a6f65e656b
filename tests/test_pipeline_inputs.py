"""MagicPosePipeline's inputs and outputs in diffusers' conventions: every image form VaeImageProcessor takes,
with its value range; videos batch first; several references and num_videos_per_prompt; AutoencoderTiny."""

import numpy as np
import pytest
import torch
from diffusers import AutoencoderTiny
from test_pipeline_equivalence import SIZE, _images

from magicpose import MagicPosePipeline
from magicpose.tiny_models import make_components

REFERENCE, OTHER_REFERENCE, POSES = _images(1, 41)[0], _images(1, 42)[0], _images(2, 43)
LATENT = (4, SIZE // 2, SIZE // 2)


@pytest.fixture(scope="module")
def pipe():
    pipe = MagicPosePipeline(**make_components("tiny", seed=12))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _call(pipe, image=REFERENCE, poses=POSES, seed=4, **kwargs):
    generator = kwargs.pop("generator", torch.Generator().manual_seed(seed))
    return pipe(
        image=image,
        pose_images=poses,
        height=SIZE,
        width=SIZE,
        num_inference_steps=2,
        generator=generator,
        **{"output_type": "np", **kwargs},
    ).frames


@pytest.fixture(scope="module")
def expected(pipe):
    return _call(pipe)


def _unit(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255.0


def test_outputs_are_batch_first_videos(pipe, expected):
    assert expected.shape == (1, 2, SIZE, SIZE, 3) and expected.dtype == np.float32
    assert 0 <= expected.min() and expected.max() <= 1
    pt = _call(pipe, output_type="pt")
    assert pt.shape == (1, 2, 3, SIZE, SIZE) and torch.allclose(
        pt.permute(0, 1, 3, 4, 2), torch.from_numpy(expected)
    )
    pil = _call(pipe, output_type="pil")
    assert len(pil) == 1 and len(pil[0]) == 2 and pil[0][0].size == (SIZE, SIZE)
    assert np.array_equal(np.asarray(pil[0][1]), (expected[0, 1] * 255).round().astype(np.uint8))
    latents = _call(pipe, output_type="latent")
    assert latents.shape == (1, 2, *LATENT)
    decoded = (
        np.stack(list(pipe.iter_frames(latents))) / 255.0
    )  # iter_frames takes the pipeline's (1, F, ...)
    assert np.abs(decoded - expected[0]).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="output_type must be"):
        _call(pipe, output_type="mp4")


@pytest.mark.parametrize(
    "form",
    [
        "uint8_array",
        "float_array",
        "float_array_batch",
        "pil_list",
        "tensor_01",
        "tensor_01_batch",
        "tensor_minus1_1",
        "uint8_tensor",
        "grey_float_of_grey",
    ],
)
def test_every_reference_form_gives_the_frames_of_the_pil_image(pipe, expected, form):
    """Among them a [0, 1] tensor, which was read as [-1, 1] before."""
    image, want = {
        "uint8_array": (np.asarray(REFERENCE), expected),
        "float_array": (_unit(REFERENCE), expected),
        "float_array_batch": (_unit(REFERENCE)[None], expected),
        "pil_list": ([REFERENCE], expected),
        "tensor_01": (torch.from_numpy(_unit(REFERENCE)).permute(2, 0, 1), expected),
        "tensor_01_batch": (torch.from_numpy(_unit(REFERENCE)).permute(2, 0, 1)[None], expected),
        "tensor_minus1_1": (torch.from_numpy(_unit(REFERENCE)).permute(2, 0, 1) * 2 - 1, expected),
        "uint8_tensor": (torch.from_numpy(np.asarray(REFERENCE)).permute(2, 0, 1), expected),
        "grey_float_of_grey": (
            _unit(REFERENCE.convert("L")),
            _call(pipe, REFERENCE.convert("L").convert("RGB")),
        ),
    }[form]
    assert np.abs(_call(pipe, image) - want).max() <= 1e-5


def test_float_poses_in_01_are_the_uint8_poses(pipe, expected):
    assert np.abs(_call(pipe, poses=[_unit(p) for p in POSES]) - expected).max() <= 1e-5
    assert np.abs(_call(pipe, poses=np.stack([_unit(p) for p in POSES])) - expected).max() <= 1e-5
    assert (
        np.abs(
            _call(pipe, poses=torch.from_numpy(np.stack([_unit(p) for p in POSES])).permute(0, 3, 1, 2))
            - expected
        ).max()
        <= 1e-5
    )
    black = _call(pipe, poses=[np.zeros((SIZE, SIZE, 3), np.uint8)] * 2)  # what float poses silently became
    assert np.abs(black - expected).max() > 1e-3


@pytest.mark.parametrize(
    "what, value, message",
    [
        ("image", _unit(REFERENCE) * 255, r"`image` float values must lie in \[0, 1\]"),
        (
            "image",
            torch.from_numpy(_unit(REFERENCE) * 255).permute(2, 0, 1),
            r"\[0, 1\] \(or \[-1, 1\]\), as diff",
        ),
        (
            "image",
            torch.full((3, SIZE, SIZE), -2.0),
            r"\[0, 1\] \(or \[-1, 1\]\), as diffusers reads images, got \[-2",
        ),
        ("image", np.asarray(REFERENCE).astype(np.int32), "uint8 or float"),
        ("image", "reference.png", "must be a PIL image, a numpy array or a torch tensor"),
        ("image", [], "empty list"),
        ("image", np.zeros((SIZE, SIZE, 5), np.float32), r"\(H, W\), \(H, W, 1\) or \(H, W, 3\)"),
        ("image", torch.zeros(5, SIZE, SIZE), r"\(3, H, W\) or \(N, 3, H, W\)"),
        ("pose_images", [np.full((SIZE, SIZE, 3), np.nan, np.float32)] * 2, "`pose_images` float values"),
        ("pose_images", [_unit(POSES[0]) * 255] * 2, r"`pose_images` float values must lie in \[0, 1\]"),
    ],
)
def test_out_of_range_and_unknown_inputs_are_refused_in_one_line(pipe, what, value, message):
    with pytest.raises(ValueError, match=message):
        _call(pipe, **({"image": value} if what == "image" else {"poses": value}))


def test_several_references_and_videos_per_prompt_equal_one_video_calls(pipe, expected):
    other = _call(pipe, OTHER_REFERENCE, seed=5)
    both = _call(
        pipe,
        [REFERENCE, OTHER_REFERENCE],
        generator=[torch.Generator().manual_seed(4), torch.Generator().manual_seed(5)],
    )
    assert both.shape == (2, 2, SIZE, SIZE, 3)
    assert np.array_equal(both[0], expected[0]) and np.array_equal(both[1], other[0])

    seeds = [4, 6, 7]
    three = _call(pipe, num_videos_per_prompt=3, generator=[torch.Generator().manual_seed(s) for s in seeds])
    assert three.shape == (3, 2, SIZE, SIZE, 3) and np.array_equal(three[0], expected[0])
    assert np.array_equal(three[2], _call(pipe, seed=7)[0])
    assert np.abs(three[1] - three[0]).max() > 1e-3  # their own noise

    # one generator for all videos draws them one after the other: videos differ, the first is the 1-video call
    shared = _call(pipe, num_videos_per_prompt=2)
    assert np.array_equal(shared[0], expected[0]) and np.abs(shared[1] - shared[0]).max() > 1e-3

    two_refs_two_each = _call(
        pipe,
        [REFERENCE, OTHER_REFERENCE],
        num_videos_per_prompt=2,
        output_type="latent",
        generator=[torch.Generator().manual_seed(s) for s in (4, 6, 5, 7)],
    )
    assert two_refs_two_each.shape == (4, 2, *LATENT)
    alone = _call(pipe, OTHER_REFERENCE, seed=5, output_type="latent")
    assert torch.equal(two_refs_two_each[2], alone[0])

    with pytest.raises(ValueError, match=r"one per video \(2\), got 3"):
        _call(pipe, num_videos_per_prompt=2, generator=[torch.Generator()] * 3)
    with pytest.raises(ValueError, match="num_videos_per_prompt must be an integer >= 1"):
        _call(pipe, num_videos_per_prompt=0)


def test_latents_per_video(pipe):
    noise = torch.randn(2, 1, *LATENT, generator=torch.Generator().manual_seed(0))
    both = _call(pipe, num_videos_per_prompt=2, latents=noise, output_type="latent")
    first = _call(pipe, latents=noise[0], output_type="latent")
    assert torch.equal(both[0], first[0]) and not torch.equal(both[0], both[1])
    with pytest.raises(ValueError, match="latents hold 2 videos, the call makes 1"):
        _call(pipe, latents=noise)


def test_autoencoder_tiny_as_the_vae():
    components = make_components("tiny", seed=12)
    torch.manual_seed(0)
    components["vae"] = AutoencoderTiny(
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    )
    pipe = MagicPosePipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae_scale_factor == 2
    frames = _call(pipe)
    latents = _call(pipe, output_type="latent")
    assert frames.shape == (1, 2, SIZE, SIZE, 3) and np.isfinite(frames).all()
    with torch.no_grad():
        decoded = (pipe.vae.decode(latents[0]).sample / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert np.abs(decoded - frames[0]).max() <= 1e-6
    assert np.abs(_call(pipe, OTHER_REFERENCE) - frames).max() > 1e-4  # the reference reaches the frames
