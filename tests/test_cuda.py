"""On a CUDA GPU: training both stages in bf16 and fp16 with gradient checkpointing, validation, export and
resume, and the pipeline's decoded frames leaving the GPU. Run with ``pytest -m cuda`` on a GPU machine;
skipped without one (the CPU tests in test_training_precision.py cover the same paths under CPU autocast)."""

import json

import pytest
import torch
from conftest import (
    VALIDATED_CHECKPOINTED_RUN,
    make_bare_pretrained,
    make_square_dataset,
    quick_frames,
    tiny_trainer,
)
from safetensors.torch import load_file

from magicpose.training import checkpoints
from magicpose.weights import load_pipeline

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("cuda")
    make_bare_pretrained(base / "pretrained")
    make_square_dataset(base / "data")
    return base


def _weights(trainer) -> dict[str, torch.Tensor]:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {n: p.detach().float().cpu().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("stage", ["appearance", "pose_control"])
def test_both_stages_train_on_cuda_with_checkpointing_validation_and_export(
    workspace, tmp_path, stage, precision
):
    out = tmp_path / "run"
    trainer = tiny_trainer(
        workspace, stage, out, **{**VALIDATED_CHECKPOINTED_RUN, "train.mixed_precision": precision}
    )
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert trainer.accelerator.device.type == "cuda"
    assert {
        p.device.type for p in [*model.parameters(), *model.unet.parameters(), *trainer.vae.parameters()]
    } == {"cuda"}
    start = _weights(trainer)
    trainer.train()
    trained = _weights(trainer)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32
    assert all(torch.isfinite(v).all() for v in trained.values())
    assert any(not torch.equal(start[k], trained[k]) for k in start)
    assert len(list((out / "validation").glob("step-*.png"))) == 2
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]
    if stage == "pose_control":
        for name in ("unet", "vae"):
            exported = load_file(out / "pipeline" / name / "diffusion_pytorch_model.safetensors")
            stored = load_file(workspace / "pretrained" / name / "diffusion_pytorch_model.safetensors")
            assert all(torch.equal(exported[k], stored[k]) for k in stored)
        frames = quick_frames(load_pipeline(out / "pipeline", device="cuda", dtype=torch.float16))
        assert frames.shape == (2, 32, 32, 3) and frames.std() > 0


def test_resume_on_cuda_continues_from_the_checkpoint(workspace, tmp_path):
    extra = {
        "train.mixed_precision": "bf16",
        "train.gradient_checkpointing": True,
        "checkpoint.every_steps": 2,
    }
    straight = tiny_trainer(
        workspace, "pose_control", tmp_path / "straight", **extra, **{"train.max_steps": 4}
    )
    straight.train()
    first = tiny_trainer(workspace, "pose_control", tmp_path / "resumed", **extra, **{"train.max_steps": 2})
    first.train()
    at_checkpoint = _weights(first)
    resumed = tiny_trainer(
        workspace, "pose_control", tmp_path / "resumed", resume="latest", **extra, **{"train.max_steps": 4}
    )
    assert resumed.global_step == 2
    loaded = _weights(resumed)
    assert all(torch.equal(loaded[k], at_checkpoint[k]) for k in at_checkpoint)  # the checkpoint, exactly
    state = resumed.optimizer.state_dict()["state"]
    assert state and all(int(s["step"]) == 2 for s in state.values())  # the optimizer's moments too
    resumed.train()
    assert (
        json.loads(
            (tmp_path / "resumed" / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text()
        )["step"]
        == 4
    )
    # CUDA kernels need not be bitwise reproducible; the resumed run ends where the straight one does.
    a, b = _weights(straight), _weights(resumed)
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-3


def test_decoded_frames_leave_the_gpu_batch_by_batch(workspace):
    from magicpose.tiny_models import make_pipeline

    pipe = make_pipeline("tiny", seed=0).to("cuda")
    pipe.set_progress_bar_config(disable=True)
    seen = []
    postprocess = pipe.image_processor.postprocess

    def recording(images, **kwargs):
        seen.append(images.device.type)
        return postprocess(images, **kwargs)

    pipe.image_processor.postprocess = recording
    frames = quick_frames(pipe, frames=6, frames_per_batch=2)
    assert seen == ["cpu"] and frames.shape == (6, 32, 32, 3)
    pt = quick_frames(pipe, output_type="pt")
    assert pt.device.type == "cuda"  # "pt" stays where the pipeline runs, as in diffusers


def test_gpu_only_diffusers_checks_keep_the_reference():
    """diffusers' accelerator-only common checks (float16 inference, model and sequential CPU offload, xformers)
    on MagicPosePipeline: each gives the frames of the plain float32 GPU run, within diffusers' tolerances."""
    import numpy as np

    from magicpose.tiny_models import make_pipeline

    def frames(pipe):
        pipe.set_progress_bar_config(disable=True)
        return pipe(
            image=torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)),
            pose_images=[torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in (1, 2)],
            num_inference_steps=2,
            height=32,
            width=32,
            generator=torch.Generator().manual_seed(3),
            output_type="np",
        ).frames

    expected = frames(make_pipeline("tiny", seed=0).to("cuda"))
    assert np.abs(frames(make_pipeline("tiny", seed=0).to("cuda", torch.float16)) - expected).max() <= 1e-2
    offloaded = make_pipeline("tiny", seed=0)
    offloaded.enable_model_cpu_offload()
    assert np.abs(frames(offloaded) - expected).max() <= 1e-4
    sequential = make_pipeline("tiny", seed=0)
    sequential.enable_sequential_cpu_offload()
    assert np.abs(frames(sequential) - expected).max() <= 1e-4
    try:
        import xformers  # noqa: F401
    except ImportError:
        return
    fast = make_pipeline("tiny", seed=0).to("cuda")
    fast.enable_xformers_memory_efficient_attention()
    assert np.abs(frames(fast) - expected).max() <= 1e-3
