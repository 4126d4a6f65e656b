"""Training: what trains and what stays frozen, the loss falls, 2 processes = 1 process, exact resume."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import make_square_dataset, tiny_trainer
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from safetensors.torch import load_file

from magicpose.tiny_models import make_pipeline
from magicpose.training import checkpoints
from magicpose.training.config import load_config
from magicpose.training.magicpose_trainer import MagicPoseTrainer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("training")
    make_pipeline("tiny", seed=0).save_pretrained(base / "pretrained")
    make_square_dataset(base / "data")
    return base


def _overrides(workspace: Path, out: Path, **extra) -> list[str]:
    values = {
        "model.pretrained_dir": workspace / "pretrained",
        "data.root": workspace / "data",
        "output_dir": out,
        "validation.every_steps": 0,
        **extra,
    }
    return [f"{k}={v}" for k, v in values.items()]


def _run(script: str, config: str, overrides: list[str], nproc: int = 1, env: dict | None = None):
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
        if nproc > 1
        else [sys.executable]
    )
    full_env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [*launcher, str(ROOT / script), "--config", str(ROOT / config), *overrides],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=300,
    )


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "diffusion_pytorch_model.safetensors")


STAGE2 = "configs/tiny_pose_control.yaml"


def _stage2(workspace: Path, out: Path, **extra) -> list[str]:
    # Any UNet folder can seed the appearance UNet; the pretrained UNet is one.
    return _overrides(
        workspace,
        out,
        **{
            "model.appearance_unet": workspace / "pretrained" / "unet",
            "checkpoint.every_steps": 2,
            "train.max_steps": 6,
            **extra,
        },
    )


def test_frozen_modules_stay_bitwise_and_every_trainable_tensor_changes(workspace, tmp_path):
    for stage, config in (("appearance", "configs/tiny_appearance.yaml"), ("pose_control", STAGE2)):
        extra = (
            {"model.appearance_unet": workspace / "pretrained" / "unet"} if stage == "pose_control" else {}
        )
        cfg = load_config(
            ROOT / config,
            _overrides(workspace, tmp_path / stage, **{"train.max_steps": 4, **extra}),
            stage=stage,
        )
        trainer = MagicPoseTrainer(cfg)
        model = trainer.accelerator.unwrap_model(trainer.model)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        trainer.train()
        frozen_unet = UNet2DConditionModel.from_pretrained(workspace / "pretrained" / "unet").state_dict()
        frozen_vae = AutoencoderKL.from_pretrained(workspace / "pretrained" / "vae").state_dict()
        unet, vae = model.unet.state_dict(), trainer.vae.state_dict()  # once, not once per key
        assert all(torch.equal(v, unet[k]) for k, v in frozen_unet.items())
        assert all(torch.equal(v, vae[k]) for k, v in frozen_vae.items())
        after = dict(model.named_parameters())
        changed = {n for n in trainable if not torch.equal(before[n], after[n])}
        assert changed == trainable, f"{stage}: unchanged trainable tensors {sorted(trainable - changed)[:5]}"
        untouched = set(before) - trainable  # the appearance UNet's tail after its last bank write
        assert untouched and all(torch.equal(before[n], after[n]) for n in untouched)
        assert all(n.startswith("appearance_unet.") for n in untouched)
        assert (stage == "pose_control") == any(n.startswith("controlnet.") for n in trainable)


@torch.no_grad()
def _fixed_batch_loss(trainer: MagicPoseTrainer) -> float:
    trainer.dataset.set_epoch(0)
    items = [trainer.dataset[i] for i in range(len(trainer.dataset))]
    batch = {
        k: torch.stack([torch.as_tensor(it[k]) for it in items])
        for k in ("reference", "image", "pose", "seed")
    }
    bank = trainer.accelerator.unwrap_model(trainer.model).bank
    try:
        return trainer.loss(batch).item()
    finally:
        bank.reset()


@pytest.mark.slow  # trains until the loss falls: seconds, in one process
def test_loss_falls_on_a_tiny_set(workspace, tmp_path):
    cfg = load_config(
        ROOT / STAGE2,
        _stage2(
            workspace,
            tmp_path / "fit",
            **{
                "train.max_steps": 60,
                "train.learning_rate": 3e-3,
                "train.batch_size": 6,
                "checkpoint.every_steps": 1000,
            },
        ),
        stage="pose_control",
    )
    trainer = MagicPoseTrainer(cfg)
    before = _fixed_batch_loss(trainer)
    trainer.train()
    after = _fixed_batch_loss(trainer)
    assert after < 0.8 * before, (before, after)


def test_two_processes_equal_one_process_with_the_same_global_batch(workspace, tmp_path):
    # The one-process reference runs here (tests run on one torch thread, as the ranks do); only the two ranks
    # need processes of their own.
    _in_process_stage2(
        workspace,
        tmp_path / "one",
        **{"train.batch_size": 4, "train.max_steps": 3, "logging.record_samples": True},
    )
    two = _run(
        "train_pose_control.py",
        STAGE2,
        _stage2(
            workspace,
            tmp_path / "two",
            **{"train.batch_size": 2, "train.max_steps": 3, "logging.record_samples": True},
        ),
        nproc=2,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    assert "MULTI_CPU" in two.stdout + two.stderr  # the ranks really synchronised (gloo)
    for name in ("appearance_unet", "controlnet"):
        a, b = _weights(tmp_path / "one" / "final" / name), _weights(tmp_path / "two" / "final" / name)
        assert a.keys() == b.keys()
        assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    seen = {r: json.loads((tmp_path / "two" / "seen_samples" / f"rank-{r}.json").read_text()) for r in (0, 1)}
    single = json.loads((tmp_path / "one" / "seen_samples" / "rank-0.json").read_text())
    assert len(seen[0]) == len(seen[1]) == 6
    for step in range(3):  # per optimizer step the ranks see disjoint halves of the same global batch
        s0, s1 = set(seen[0][2 * step : 2 * step + 2]), set(seen[1][2 * step : 2 * step + 2])
        assert not s0 & s1
        assert s0 | s1 == set(single[4 * step : 4 * step + 4])


def test_sigkill_between_checkpoints_then_resume_is_bitwise_equal(workspace, tmp_path, capsys):
    # Only the killed run needs a process of its own; the straight run and the resume run here.
    _in_process_stage2(workspace, tmp_path / "straight")
    out = tmp_path / "killed"
    _kill_stage2(workspace, out, "sigkill-after-step:3")
    _in_process_stage2(workspace, out, resume="latest")
    assert "resumed from" in capsys.readouterr().out
    for name in ("appearance_unet", "controlnet"):
        a, b = _weights(tmp_path / "straight" / "final" / name), _weights(out / "final" / name)
        assert all(torch.equal(a[k], b[k]) for k in a)


def _kill_stage2(workspace: Path, out: Path, fault: str) -> None:
    """Stage 2 into ``out``, killed by SIGKILL where the MAGICPOSE_FAULT ``fault`` says, after checkpoint-2 was
    written and before checkpoint-4 was complete."""
    killed = _run("train_pose_control.py", STAGE2, _stage2(workspace, out), env={"MAGICPOSE_FAULT": fault})
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]


def _in_process_stage2(workspace: Path, out: Path, resume: str | None = None, **extra) -> MagicPoseTrainer:
    """``_stage2``'s run (6 steps, a checkpoint every 2) in this process, as train_pose_control.py runs it."""
    trainer = tiny_trainer(
        workspace, "pose_control", out, resume, **{"checkpoint.every_steps": 2, "train.max_steps": 6, **extra}
    )
    trainer.train()
    return trainer


def test_crash_during_checkpoint_write_leaves_the_previous_checkpoint_loadable(workspace, tmp_path):
    out = tmp_path / "crash"
    _kill_stage2(workspace, out, "sigkill-in-checkpoint:4")
    assert (checkpoints.checkpoint_root(out) / ".checkpoint-4.tmp").is_dir()  # the half-written one
    assert checkpoints.resolve_resume(out, "latest").name == "checkpoint-2"
    ControlNetModel.from_pretrained(out / "checkpoints" / "checkpoint-2" / "controlnet")
    _in_process_stage2(workspace, out, resume="latest")
    assert not (checkpoints.checkpoint_root(out) / ".checkpoint-4.tmp").exists()
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-4", "checkpoint-6"]


def _train_in_process(workspace: Path, out: Path, **extra) -> dict[str, torch.Tensor]:
    trainer = _in_process_stage2(workspace, out, **{"checkpoint.every_steps": 1000, **extra})
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_gradient_checkpointing_trains_the_same_weights(workspace, tmp_path):
    # Checkpointing recomputes both UNets' blocks in the backward pass while the bank is in read mode:
    # the writer must recompute plain attention and the reader must re-read the bank.
    plain = _train_in_process(workspace, tmp_path / "plain", **{"train.max_steps": 3})
    checkpointed = _train_in_process(
        workspace, tmp_path / "ckpt", **{"train.max_steps": 3, "train.gradient_checkpointing": True}
    )
    assert plain.keys() == checkpointed.keys()
    assert max((plain[k] - checkpointed[k]).abs().max().item() for k in plain) <= 1e-6


def test_bf16_mixed_precision_trains_with_clipping(workspace, tmp_path):
    start = _train_in_process(workspace, tmp_path / "start", **{"train.max_steps": 0})
    trained = _train_in_process(
        workspace,
        tmp_path / "bf16",
        **{"train.max_steps": 2, "train.mixed_precision": "bf16", "train.max_grad_norm": 0.01},
    )
    assert all(torch.isfinite(v).all() for v in trained.values())
    assert all(v.dtype == torch.float32 for v in trained.values())  # trainable weights stay fp32
    assert any(not torch.equal(start[k], trained[k]) for k in start)
