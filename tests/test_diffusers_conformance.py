"""diffusers' common pipeline expectations (``tests/pipelines/test_pipelines_common.py``: PipelineTesterMixin and
its companions), restated for a pose-to-video pipeline and run against ``MagicPosePipeline`` with the tiny models.
Each test is named after the diffusers check it restates; the reference image is the batch parameter (one video
per reference), the pose maps are shared by every video, and videos come batch first. The checks that do not
apply, or need a GPU, are listed with the reason in the README ("diffusers conformance").

Generic loading, schedulers, attention processors and input forms have their own files
(test_pipeline_generic_loading.py, test_pipeline_schedulers.py, test_pipeline_attention_api.py,
test_pipeline_inputs.py)."""

import inspect

import numpy as np
import pytest
import torch
from test_pipeline_equivalence import SIZE, _images

from magicpose import MagicPosePipeline
from magicpose.tiny_models import make_components

REFERENCES, POSES = _images(3, 61), _images(2, 62)
STEPS = 2


def _components(seed=0):
    return make_components("tiny", seed=seed)


def _pipe(components=None):
    pipe = MagicPosePipeline(**(components or _components()))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _inputs(seed=0, **overrides):
    """diffusers' get_dummy_inputs: the smallest call that exercises the whole sampler."""
    return {
        "image": REFERENCES[0],
        "pose_images": POSES,
        "height": SIZE,
        "width": SIZE,
        "num_inference_steps": STEPS,
        "guidance_scale": 7.0,
        "generator": torch.Generator().manual_seed(seed),
        "output_type": "np",
        **overrides,
    }


@pytest.fixture(scope="module")
def pipe():
    return _pipe()


@pytest.fixture(scope="module")
def expected(pipe):
    return pipe(**_inputs()).frames


def _max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def test_call_signature_has_the_common_parameters():
    parameters = inspect.signature(MagicPosePipeline.__call__).parameters
    for name in (
        "image",
        "height",
        "width",
        "num_inference_steps",
        "timesteps",
        "sigmas",
        "guidance_scale",
        "num_videos_per_prompt",
        "eta",
        "generator",
        "latents",
        "prompt_embeds",
        "output_type",
        "return_dict",
        "callback_on_step_end",
        "callback_on_step_end_tensor_inputs",
    ):
        assert name in parameters, name
    assert MagicPosePipeline._callback_tensor_inputs == ["latents"]


def test_components_function(pipe, expected):
    init = set(inspect.signature(MagicPosePipeline.__init__).parameters) - {"self"}
    assert set(pipe.components) == init
    assert _max_diff(_pipe(pipe.components)(**_inputs()).frames, expected) == 0


def test_dict_tuple_outputs_equivalent(pipe, expected):
    as_tuple = pipe(**_inputs(), return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 1
    assert _max_diff(as_tuple[0], expected) == 0


def test_deterministic_for_a_seed_and_different_across_seeds(pipe, expected):
    assert _max_diff(pipe(**_inputs()).frames, expected) == 0
    assert _max_diff(pipe(**_inputs(seed=1)).frames, expected) > 1e-3


def test_save_load_local(pipe, expected, tmp_path):
    pipe.save_pretrained(tmp_path)
    assert _max_diff(_loaded(tmp_path)(**_inputs()).frames, expected) <= 1e-5


def _loaded(folder, **kwargs):
    loaded = MagicPosePipeline.from_pretrained(folder, **kwargs)
    loaded.set_progress_bar_config(disable=True)
    return loaded


def test_save_load_optional_components(pipe, tmp_path):
    """Every optional component set to None is saved as None and loads as None, with the same frames."""
    embeds = pipe.encode_prompt("", torch.device("cpu"))[0]
    bare = _pipe({**_components(), "text_encoder": None, "tokenizer": None, "controlnet": None})
    bare.empty_prompt_embeds = embeds
    frames = bare(**_inputs()).frames
    bare.save_pretrained(tmp_path)
    loaded = _loaded(tmp_path)
    assert loaded.text_encoder is None and loaded.tokenizer is None and loaded.controlnet is None
    assert _max_diff(loaded(**_inputs()).frames, frames) <= 1e-5


def test_inference_batch_single_identical(pipe):
    """Each video of a batched call equals a one-video call with its own generator."""
    seeds = [3, 4, 5]
    batched = pipe(
        **_inputs(image=REFERENCES, generator=[torch.Generator().manual_seed(s) for s in seeds])
    ).frames
    for b, seed in enumerate(seeds):
        single = pipe(**_inputs(seed=seed, image=REFERENCES[b])).frames
        assert _max_diff(batched[b], single[0]) <= 1e-4  # diffusers' tolerance; measured 0


@pytest.mark.parametrize("batch, per_prompt", [(1, 1), (1, 2), (3, 1), (2, 2)])
def test_inference_batch_consistent_and_num_videos_per_prompt(pipe, batch, per_prompt):
    latents = pipe(
        **_inputs(image=REFERENCES[:batch], num_videos_per_prompt=per_prompt, output_type="latent")
    ).frames
    assert tuple(latents.shape) == (batch * per_prompt, len(POSES), 4, SIZE // 2, SIZE // 2)


def test_output_types_are_batch_first(pipe, expected):
    assert expected.shape == (1, len(POSES), SIZE, SIZE, 3)
    pt = pipe(**_inputs(output_type="pt")).frames
    assert (
        tuple(pt.shape) == (1, len(POSES), 3, SIZE, SIZE)
        and _max_diff(pt.permute(0, 1, 3, 4, 2), expected) == 0
    )
    pil = pipe(**_inputs(image=REFERENCES[:2], output_type="pil")).frames
    assert len(pil) == 2 and all(len(video) == len(POSES) for video in pil) and pil[0][0].size == (SIZE, SIZE)


def test_cfg(pipe, expected):
    unguided = pipe(**_inputs(guidance_scale=1.0)).frames
    assert unguided.shape == expected.shape and _max_diff(unguided, expected) > 1e-3


def test_callback_inputs(pipe):
    seen = []

    def callback(p, i, t, kwargs):
        assert set(kwargs) == set(p._callback_tensor_inputs)
        seen.append((i, int(t)))
        if i == p.num_timesteps - 1:
            kwargs["latents"] = torch.zeros_like(kwargs["latents"])  # replaced latents are used
        return kwargs

    latents = pipe(
        **_inputs(
            output_type="latent",
            callback_on_step_end=callback,
            callback_on_step_end_tensor_inputs=["latents"],
        )
    ).frames
    assert [i for i, _ in seen] == list(range(STEPS)) and latents.abs().sum() == 0
    with pytest.raises(ValueError, match="not in"):
        pipe(**_inputs(callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["prompt_embeds"]))


def test_interrupt(pipe):
    """Interrupted after step 1 of 3, the output is the latents as they were after that step."""
    stored = {}

    def keep(p, i, t, kwargs):
        stored[i] = kwargs["latents"].clone()
        return kwargs

    def stop(p, i, t, kwargs):
        if i == 1:
            p._interrupt = True
        return kwargs

    pipe(**_inputs(num_inference_steps=3, output_type="latent", callback_on_step_end=keep))
    interrupted = pipe(
        **_inputs(num_inference_steps=3, output_type="latent", callback_on_step_end=stop)
    ).frames
    assert torch.equal(interrupted[0], stored[1]) and not torch.equal(stored[1], stored[2])


def test_progress_bar(pipe, capsys):
    shown = _pipe()
    shown.set_progress_bar_config(disable=False)
    shown(**_inputs())
    assert f"{STEPS}/{STEPS}" in capsys.readouterr().err
    pipe(**_inputs())  # disabled
    assert capsys.readouterr().err == ""


def test_to_device_and_dtype():
    pipe = _pipe()
    pipe.to("cpu")
    assert {str(m.device) for m in pipe.components.values() if isinstance(m, torch.nn.Module)} == {"cpu"}
    pipe.to(torch.bfloat16)
    modules = {n: m for n, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
    assert {m.dtype for m in modules.values()} == {torch.bfloat16}
    assert set(modules) == {"vae", "text_encoder", "unet", "appearance_unet", "controlnet"}


def test_torch_dtype_dict(pipe, tmp_path):
    pipe.save_pretrained(tmp_path)
    loaded = MagicPosePipeline.from_pretrained(
        tmp_path, torch_dtype={"unet": torch.bfloat16, "default": torch.float32}
    )
    assert loaded.unet.dtype == torch.bfloat16
    assert {loaded.vae.dtype, loaded.appearance_unet.dtype, loaded.controlnet.dtype} == {torch.float32}


def test_serialization_and_loading_with_variants(expected, tmp_path):
    pipe = _pipe()
    pipe.empty_prompt_embeds = pipe.encode_prompt("", torch.device("cpu"))[0]  # every kind of component
    pipe.save_pretrained(tmp_path, variant="fp16")
    for name in ("vae", "unet", "appearance_unet", "controlnet", "empty_prompt"):
        assert sorted(p.name for p in (tmp_path / name).glob("*.safetensors")) == [
            "diffusion_pytorch_model.fp16.safetensors"
        ], name
    assert _max_diff(_loaded(tmp_path, variant="fp16")(**_inputs()).frames, expected) <= 1e-5


def test_encode_prompt_works_in_isolation(expected):
    """A pipeline holding only the text encoder and tokenizer encodes the prompt; a pipeline without them samples
    from what it returned, passed by name (diffusers pairs encode_prompt's outputs with __call__'s parameters)."""
    components = _components()
    text_only = MagicPosePipeline(
        **{k: v if k in ("text_encoder", "tokenizer") else None for k, v in components.items()}
    )
    outputs = text_only.encode_prompt("", torch.device("cpu"))
    assert isinstance(outputs, tuple) and len(outputs) == 1
    assert tuple(outputs[0].shape) == (1, 77, components["text_encoder"].config.hidden_size)
    no_text = _pipe({**components, "text_encoder": None, "tokenizer": None})
    assert _max_diff(no_text(**_inputs(**dict(zip(["prompt_embeds"], outputs)))).frames, expected) == 0
    with pytest.raises(ValueError, match="one string shared by every video"):
        no_text(**_inputs(prompt=["", ""]))


def test_from_pipe_consistent_forward_pass(pipe, expected):
    again = MagicPosePipeline.from_pipe(pipe)
    assert all(again.components[k] is v for k, v in pipe.components.items())
    assert _max_diff(again(**_inputs()).frames, expected) == 0


def test_attention_slicing_forward_pass(expected):
    sliced = _pipe()
    sliced.enable_attention_slicing(slice_size=1)
    assert (
        _max_diff(sliced(**_inputs()).frames, expected) <= 1e-3
    )  # diffusers' tolerance; measured below 1e-6


def test_layerwise_casting_inference(expected):
    """Weights stored in float8, computed in float32 (diffusers' enable_layerwise_casting on each model)."""
    cast = _pipe()
    for name in ("unet", "appearance_unet", "controlnet"):
        getattr(cast, name).enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32
        )
    frames = cast(**_inputs()).frames
    assert frames.shape == expected.shape and np.isfinite(frames).all()
    assert _max_diff(frames, expected) < 0.25  # float8 weights: near, not equal


def test_stable_diffusion_mixin_and_vae_slicing_tiling(expected):
    pipe = _pipe()
    pipe.vae.enable_slicing()
    pipe.vae.enable_tiling()
    assert _max_diff(pipe(**_inputs()).frames, expected) <= 1e-4  # tiles larger than these frames: unchanged
    pipe.vae.disable_tiling()
    pipe.vae.disable_slicing()
    pipe.enable_freeu(s1=0.9, s2=0.2, b1=1.2, b2=1.4)
    with_freeu = pipe(**_inputs()).frames
    assert _max_diff(with_freeu, expected) > 1e-4  # FreeU reweights the UNet's skip features
    pipe.disable_freeu()
    assert _max_diff(pipe(**_inputs()).frames, expected) == 0
    pipe.fuse_qkv_projections()
    with pytest.raises(ValueError, match="unfuse_qkv_projections"):
        pipe(**_inputs())
