"""The optimised sampler against oracles written here: diffusers' ControlNet pipeline and a literal
re-statement of the original MagicPose loop (appearance UNet rerun for every frame and step,
separate conditional and unconditional calls, the ControlNet run for both)."""

import copy
import functools
import inspect

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionControlNetPipeline
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from magicpose.models.reference_attention import (
    attached_reference_bank,
    run_appearance_unet,
    self_attention_names,
)
from magicpose.tiny_models import make_components, make_pipeline

SIZE = 32  # pixels; the tiny VAE downsamples by 2


def _images(n, seed, size=SIZE):
    rng = np.random.RandomState(seed)
    return [Image.fromarray((rng.rand(size, size, 3) * 255).astype(np.uint8)) for _ in range(n)]


def _to_pixels(image):
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def _run(pipe, reference, poses, seed=0, **kwargs):
    """The frames (F, SIZE, SIZE, 3) in [0, 1] of a MagicPose pipeline on ``reference`` and ``poses`` with a
    generator seeded by ``seed``: three steps unless ``num_inference_steps`` is among the other options."""
    return pipe(
        image=reference,
        pose_images=poses,
        height=SIZE,
        width=SIZE,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
        **{"num_inference_steps": 3, **kwargs},
    ).frames[0]


def _unguided_controlnet_images(sd, pose, seed, num_inference_steps):
    """diffusers' ControlNet pipeline ``sd`` on one ``pose`` image, the empty prompt, without guidance: the
    oracle for MagicPose with its reference and its guidance both off."""
    return sd(
        prompt="",
        image=pose,
        height=SIZE,
        width=SIZE,
        num_inference_steps=num_inference_steps,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    ).images


def test_bank_and_guidance_off_equals_diffusers_controlnet_pipeline():
    components = make_components("tiny", seed=0)
    pipe = make_pipeline("tiny", seed=0)
    reference_unet = copy.deepcopy(components["unet"])
    reference_unet.set_attn_processor(AttnProcessor2_0())
    sd = StableDiffusionControlNetPipeline(
        vae=components["vae"],
        text_encoder=components["text_encoder"],
        tokenizer=components["tokenizer"],
        unet=reference_unet,
        controlnet=components["controlnet"],
        scheduler=components["scheduler"],
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    sd.set_progress_bar_config(disable=True)
    poses = _images(2, seed=1)
    ours = _run(
        pipe,
        _images(1, 7)[0],
        poses,
        seed=3,
        num_inference_steps=4,
        guidance_scale=1.0,
        appearance_control=False,
    )
    for i, pose in enumerate(poses):
        theirs = _unguided_controlnet_images(sd, pose, seed=3, num_inference_steps=4)[0]
        assert np.abs(ours[i] - theirs).max() <= 1e-5
    assert np.abs(ours[0] - ours[1]).max() > 1e-3  # the two poses gave different frames


class _WriteProcessor:
    """The original's write mode: store the attn1 input, then plain self-attention."""

    def __init__(self, store, name):
        self.store, self.name, self.plain = store, name, AttnProcessor2_0()

    def __call__(self, attn, hidden_states, **kwargs):
        self.store[self.name] = hidden_states
        return self.plain(attn, hidden_states)


class _ReadProcessor:
    """The original's read mode: keys and values from [own tokens ; reference tokens]."""

    def __init__(self, store, name):
        self.store, self.name, self.plain = store, name, AttnProcessor2_0()
        self.enabled = True

    def __call__(self, attn, hidden_states, **kwargs):
        if not self.enabled:
            return self.plain(attn, hidden_states)
        ref = self.store[self.name].expand(hidden_states.shape[0], -1, -1)
        return self.plain(attn, hidden_states, encoder_hidden_states=torch.cat([hidden_states, ref], dim=1))


def _install(unet, processor_cls, store):
    procs = {}
    for key in unet.attn_processors:
        name = key[: -len(".processor")]
        procs[key] = processor_cls(store, name) if name.endswith("attn1") else AttnProcessor2_0()
    installed = [p for p in procs.values() if isinstance(p, processor_cls)]
    unet.set_attn_processor(procs)  # empties the dict it is given
    return installed


def original_loop_runner(components, prompt_embeds=None, device="cpu", dtype=torch.float32):
    """The literal original loop, prepared (UNet copies, write/read processors, the "" embedding) outside
    the returned function, which runs it on ``device`` in ``dtype``; benchmarks time that function.

    Without ``prompt_embeds`` the empty prompt is encoded with the components' tokenizer and text encoder.
    """
    unet = copy.deepcopy(components["unet"])
    appearance = copy.deepcopy(components["appearance_unet"])
    controlnet, vae = components["controlnet"], components["vae"]
    store = {}
    _install(appearance, _WriteProcessor, store)
    readers = _install(unet, _ReadProcessor, store)
    if prompt_embeds is None:
        tok = components["tokenizer"]
        ids = tok("", padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids
        prompt_embeds = components["text_encoder"](ids)[0]
    context = prompt_embeds.to(device, dtype)

    @torch.no_grad()
    def run(reference, poses, steps, guidance_scale, seed, size=SIZE, decode=True, scheduler=None):
        """Frame by frame: every step reruns A for each frame, and runs the ControlNet for both branches.

        ``reference`` and ``poses`` are PIL images of ``size`` x ``size``; ``scheduler`` defaults to the
        components' DDIM. The frames share one scheduler step per timestep, so a stochastic scheduler draws
        its noise for all frames at once, as the pipeline does (for a deterministic one this equals running
        each frame's whole loop on its own, as the original does). Returns frames (F, H, W, 3) in [0, 1],
        or the final latents when ``decode`` is False.
        """
        scheduler = copy.deepcopy(scheduler or components["scheduler"])
        generator = torch.Generator().manual_seed(seed)
        scale = 2 ** (len(vae.config.block_out_channels) - 1)
        shape = (1, 4, size // scale, size // scale)
        noise = randn_tensor(shape, generator=generator).to(device, dtype)  # the same x_T for every frame
        pixels = (_to_pixels(reference) * 2 - 1).to(device, dtype)
        ref_latent = vae.encode(pixels).latent_dist.sample(generator) * vae.config.scaling_factor
        scheduler.set_timesteps(steps)
        accepted = inspect.signature(scheduler.step).parameters
        step_kwargs = {k: v for k, v in (("eta", 0.0), ("generator", generator)) if k in accepted}
        hints = [_to_pixels(pose).to(device, dtype) for pose in poses]
        z = noise.repeat(len(poses), 1, 1, 1) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            eps = []
            for f, hint in enumerate(hints):
                z_in = scheduler.scale_model_input(z[f : f + 1], t)
                appearance(ref_latent, t, encoder_hidden_states=context)
                down, mid = controlnet(
                    z_in, t, encoder_hidden_states=context, controlnet_cond=hint, return_dict=False
                )
                for r in readers:
                    r.enabled = True
                eps_c = unet(
                    z_in,
                    t,
                    encoder_hidden_states=context,
                    down_block_additional_residuals=down,
                    mid_block_additional_residual=mid,
                ).sample
                controlnet(
                    z_in, t, encoder_hidden_states=context, controlnet_cond=hint, return_dict=False
                )  # discarded
                for r in readers:
                    r.enabled = False
                eps_u = unet(z_in, t, encoder_hidden_states=context).sample
                eps.append(eps_u + guidance_scale * (eps_c - eps_u))
            z = scheduler.step(torch.cat(eps), t, z, **step_kwargs).prev_sample
        if not decode:
            return z
        frames = []
        for f in range(len(poses)):
            image = vae.decode(z[f : f + 1] / vae.config.scaling_factor).sample
            frames.append((image / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy())
        return np.stack(frames)

    return run


def literal_original_loop(
    components, reference, poses, steps, guidance_scale, seed, size=SIZE, decode=True, scheduler=None
):
    """The original's sampler, literally, on the CPU in float32 (see ``original_loop_runner``)."""
    return original_loop_runner(components)(
        reference, poses, steps, guidance_scale, seed, size, decode, scheduler
    )


@functools.cache
def _literal_loop_and_unreferenced_frames() -> tuple[np.ndarray, np.ndarray]:
    """For test_optimised_sampler_equals_literal_original_loop: the literal loop's frames and the pipeline's frames
    without the reference. Neither depends on frames_per_batch, so each is computed once for both cases."""
    reference, poses = _images(1, 11)[0], _images(4, 12)
    expected = literal_original_loop(
        make_components("tiny", seed=5), reference, poses, steps=4, guidance_scale=7.0, seed=9
    )
    no_ref = _run(
        make_pipeline("tiny", seed=5),
        reference,
        poses,
        seed=9,
        num_inference_steps=4,
        appearance_control=False,
    )
    expected.flags.writeable = no_ref.flags.writeable = False  # shared by the cases: read only
    return expected, no_ref


@pytest.mark.parametrize("frames_per_batch", [2, 3])
def test_optimised_sampler_equals_literal_original_loop(frames_per_batch):
    expected, no_ref = _literal_loop_and_unreferenced_frames()
    reference, poses = _images(1, 11)[0], _images(4, 12)
    pipe = make_pipeline("tiny", seed=5)
    got = _run(
        pipe,
        reference,
        poses,
        seed=9,
        num_inference_steps=4,
        guidance_scale=7.0,
        frames_per_batch=frames_per_batch,
    )
    assert got.shape == expected.shape == (4, SIZE, SIZE, 3)
    assert np.abs(got - expected).max() <= 1e-5
    # The oracle is not trivially satisfied: without the reference the frames differ.
    assert np.abs(no_ref - expected).max() > 1e-3


def test_reference_conditions_output_and_same_inputs_are_deterministic():
    pipe = make_pipeline("tiny", seed=2)
    poses = _images(2, 20)
    a = _run(pipe, _images(1, 21)[0], poses)
    b = _run(pipe, _images(1, 21)[0], poses)
    c = _run(pipe, _images(1, 22)[0], poses)
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    other_pose = _run(pipe, _images(1, 21)[0], _images(2, 23))
    assert np.abs(a - other_pose).max() > 1e-3
    unguided = _run(pipe, _images(1, 21)[0], poses, guidance_scale=1.0)
    assert np.abs(a - unguided).max() > 1e-3


def test_bank_holds_one_tensor_per_self_attention_of_the_appearance_unet():
    pipe = make_pipeline("tiny", seed=3)
    attn1 = [
        n for n, m in pipe.appearance_unet.named_modules() if isinstance(m, Attention) and n.endswith("attn1")
    ]
    assert len(attn1) > 0
    seen = []

    def capture(p, i, t, kwargs):
        seen.append({k: tuple(v.shape) for k, v in p.bank.features.items()})
        return kwargs

    _run(pipe, _images(1, 1)[0], _images(1, 2), callback_on_step_end=capture)
    assert len(seen) == 3
    assert sorted(seen[0]) == sorted(attn1)
    assert all(shape[0] == 1 for shape in seen[0].values())  # one reference, broadcast over frames


def test_stopping_after_the_last_write_gives_the_same_bank():
    pipe = make_pipeline("tiny", seed=4)
    latents = torch.randn(1, 4, 16, 16)
    context = pipe.encode_prompt("", torch.device("cpu"))[0]
    with torch.no_grad(), attached_reference_bank(pipe.appearance_unet, pipe.unet, pipe.bank):
        full = dict(
            run_appearance_unet(
                pipe.appearance_unet, pipe.bank, latents, 500, context, stop_after_last_write=False
            ).features
        )
        early = dict(
            run_appearance_unet(
                pipe.appearance_unet, pipe.bank, latents, 500, context, stop_after_last_write=True
            ).features
        )
    assert len(full) == len(self_attention_names(pipe.appearance_unet)) > 0
    assert sorted(full) == sorted(early)
    assert all(torch.equal(full[k], early[k]) for k in full)


def test_zero_appearance_timestep_runs_the_appearance_unet_once():
    pipe = make_pipeline("tiny", seed=6)
    calls = []
    handle = pipe.appearance_unet.register_forward_pre_hook(
        lambda m, args, kwargs: calls.append(args[1]), with_kwargs=True
    )
    try:
        _run(pipe, _images(1, 1)[0], _images(2, 2), appearance_timestep="same")
        assert len(calls) == 3
        calls.clear()
        _run(pipe, _images(1, 1)[0], _images(2, 2), appearance_timestep="zero")
        assert len(calls) == 1 and int(calls[0]) == 0
    finally:
        handle.remove()


def test_save_and_load_round_trip_gives_identical_frames(tmp_path):
    from magicpose import MagicPosePipeline

    pipe = make_pipeline("tiny", seed=8)
    pipe.save_pretrained(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "appearance_unet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = MagicPosePipeline.from_pretrained(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.tokenizer.model_max_length == 77
    reference, poses = _images(1, 3)[0], _images(2, 4)
    assert np.array_equal(_run(pipe, reference, poses), _run(loaded, reference, poses))
