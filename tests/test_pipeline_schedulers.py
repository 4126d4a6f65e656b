"""Any diffusers scheduler swapped in as diffusers documents it (``Scheduler.from_config(pipe.scheduler.config)``)
gives the frames of the literal original loop run with that scheduler: the bank, the ControlNet and image
classifier-free guidance, the scheduler's scaled model input, its initial noise sigma and only the ``step``
keywords it takes."""

import functools
import importlib.util

import diffusers
import numpy as np
import pytest
from diffusers.schedulers import KarrasDiffusionSchedulers
from test_pipeline_equivalence import SIZE, _images, _run, original_loop_runner

from magicpose import MagicPosePipeline
from magicpose.tiny_models import make_components

STEPS = 4
# The scheduler families of diffusers' compatibles list (KarrasDiffusionSchedulers), by name; the DDIM default first.
SCHEDULERS = [e.name for e in KarrasDiffusionSchedulers]


@functools.cache
def _shared_components() -> dict:
    """The seed-5 tiny components, built once: no test here changes a model (each pipeline gets a scheduler of
    its own, a built or called pipeline leaves its UNets as they were, the literal loop works on copies)."""
    return make_components("tiny", seed=5)


def _components() -> dict:
    """The shared models with a default scheduler of the test's own (a pipeline called with it sets its steps)."""
    return {**_shared_components(), "scheduler": MagicPosePipeline.default_scheduler()}


@functools.cache
def _literal_loop():
    """The literal original loop on the shared components, prepared once (UNet copies, processors, the ""
    embedding); each run starts from the given scheduler's copy and rewrites the bank before reading it."""
    return original_loop_runner(_shared_components())


def _scheduler(name: str, components: dict, **config):
    if name == "DPMSolverSDEScheduler":
        if importlib.util.find_spec("torchsde") is None:
            pytest.skip("DPMSolverSDEScheduler needs torchsde (pip install torchsde)")
        config["noise_sampler_seed"] = 0  # its step takes no generator: its Brownian noise is seeded here
    return getattr(diffusers, name).from_config(components["scheduler"].config, **config)


def _pipe(components, scheduler):
    pipe = MagicPosePipeline(**{**components, "scheduler": scheduler})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _call(pipe, reference, poses, seed=9, **kwargs):
    """The pipeline's frames with guidance 7, two frames a batch, STEPS steps unless told otherwise."""
    return _run(
        pipe,
        reference,
        poses,
        seed,
        guidance_scale=7.0,
        frames_per_batch=2,
        **{"num_inference_steps": STEPS, **kwargs},
    )


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_scheduler_equals_the_literal_loop_with_that_scheduler(name):
    components = _components()
    reference, poses = _images(1, 11)[0], _images(3, 12)
    scheduler = _scheduler(name, components)
    expected = _literal_loop()(reference, poses, STEPS, 7.0, seed=9, scheduler=scheduler)
    got = _call(_pipe(components, scheduler), reference, poses)
    assert got.shape == expected.shape == (3, SIZE, SIZE, 3)
    assert np.isfinite(got).all()
    assert np.abs(got - expected).max() <= 1e-5


def test_schedulers_give_different_frames_and_euler_needs_its_input_scaling():
    """The oracle is not trivially met: DPM-Solver++ and Euler differ from DDIM, and Euler without
    ``scale_model_input`` (what the pipeline did before) gives other frames than with it."""
    components = _components()
    reference, poses = _images(1, 11)[0], _images(2, 12)
    frames = {
        name: _call(_pipe(components, _scheduler(name, components)), reference, poses)
        for name in ("DDIMScheduler", "DPMSolverMultistepScheduler", "EulerDiscreteScheduler")
    }
    assert np.abs(frames["DDIMScheduler"] - frames["DPMSolverMultistepScheduler"]).max() > 1e-3
    assert np.abs(frames["DDIMScheduler"] - frames["EulerDiscreteScheduler"]).max() > 1e-3

    euler = _scheduler("EulerDiscreteScheduler", components)
    unscaled = _pipe(components, euler)
    unscaled.scheduler.scale_model_input = lambda sample, timestep: sample
    assert np.abs(_call(unscaled, reference, poses) - frames["EulerDiscreteScheduler"]).max() > 1e-3


def test_a_swapped_scheduler_keeps_its_config_through_save_and_load(tmp_path):
    components = _components()
    pipe = _pipe(components, _scheduler("DPMSolverMultistepScheduler", components, use_karras_sigmas=True))
    pipe.save_pretrained(tmp_path)
    loaded = MagicPosePipeline.from_pretrained(tmp_path)
    assert type(loaded.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert loaded.scheduler.config.use_karras_sigmas is True
    reference, poses = _images(1, 11)[0], _images(2, 12)
    assert np.array_equal(_call(pipe, reference, poses), _call(loaded, reference, poses))


def test_custom_timesteps_and_sigmas_where_the_scheduler_takes_them():
    components = _components()
    reference, poses = _images(1, 11)[0], _images(2, 12)
    dpm = _scheduler("DPMSolverMultistepScheduler", components)
    steps = [999, 749, 499, 249]
    custom = _call(_pipe(components, dpm), reference, poses, num_inference_steps=None, timesteps=steps)
    expected_scheduler = _scheduler("DPMSolverMultistepScheduler", components)
    seen = []
    pipe = _pipe(components, expected_scheduler)
    _call(
        pipe,
        reference,
        poses,
        num_inference_steps=None,
        timesteps=steps,
        callback_on_step_end=lambda p, i, t, kw: seen.append(int(t)) or kw,
    )
    assert seen == steps
    assert (
        np.abs(
            custom
            - _call(
                _pipe(components, _scheduler("DPMSolverMultistepScheduler", components)), reference, poses
            )
        ).max()
        > 1e-4
    )  # not the default spacing

    euler = _pipe(components, _scheduler("EulerDiscreteScheduler", components))
    sigmas = [14.0, 5.0, 1.5, 0.3, 0.0]  # Euler's schedule names where the last step ends
    seen.clear()
    _call(
        euler,
        reference,
        poses,
        num_inference_steps=None,
        sigmas=sigmas,
        callback_on_step_end=lambda p, i, t, kw: seen.append(float(p.scheduler.sigmas[i])) or kw,
    )
    assert seen == pytest.approx(sigmas[:-1], rel=1e-6)

    ddim = _pipe(components, components["scheduler"])
    with pytest.raises(ValueError, match="DDIMScheduler does not take custom `timesteps`"):
        _call(ddim, reference, poses, timesteps=steps)
    with pytest.raises(ValueError, match="either `timesteps` or `sigmas`"):
        _call(euler, reference, poses, timesteps=steps, sigmas=sigmas)
