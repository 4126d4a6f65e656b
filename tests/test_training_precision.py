"""Training as it runs on a GPU, proven on the CPU: mixed precision (accelerate's CPU autocast, bf16),
gradient checkpointing, validation and the final export from a folder without a text encoder, the
checkpoint layout, accumulation, the probe pass on the training device, and the config values users type.

Each test here fails on the trainer as it was before the GPU fixes (see the comment on each)."""

import json
from pathlib import Path

import pytest
import torch
import torch.utils.checkpoint
from accelerate import Accelerator
from conftest import (
    TINY_CONFIGS,
    VALIDATED_CHECKPOINTED_RUN,
    make_bare_pretrained,
    make_square_dataset,
    quick_frames,
    tiny_trainer,
)
from safetensors import safe_open
from safetensors.torch import load_file

from magicpose import files
from magicpose.errors import InputError
from magicpose.training import checkpoints
from magicpose.training.config import load_config
from magicpose.training.magicpose_trainer import MagicPoseTrainer
from magicpose.training.model import MagicPoseTrainingModel
from magicpose.weights import load_pipeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("precision")
    make_bare_pretrained(base / "pretrained")  # vae/ and unet/ in float16, the stored "" embedding only
    make_square_dataset(base / "data")
    return base


def _trained(trainer: MagicPoseTrainer) -> dict[str, torch.Tensor]:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# -- both stages end to end, as the SD 1.5 configs run them ---------------------------------------------


@pytest.mark.parametrize("stage", ["appearance", "pose_control"])
def test_bf16_checkpointing_validation_and_export_without_text_encoder(workspace, tmp_path, stage):
    # Before the fixes: validation crashed under bf16 (bf16 frozen UNet against float32 trained models)
    # and the stage-2 export asked for <pretrained_dir>/text_encoder after the last step.
    out = tmp_path / stage
    trainer = tiny_trainer(
        workspace, stage, out, **{**VALIDATED_CHECKPOINTED_RUN, "train.mixed_precision": "bf16"}
    )
    assert trainer.weight_dtype == torch.bfloat16
    trainer.train()
    assert sorted(p.name for p in (out / "validation").iterdir()) == ["step-000001.png", "step-000002.png"]
    final = {p.name for p in (out / "final").iterdir()}
    assert files.RECORD in final  # committed as one folder, with the record of what magicpose wrote in it
    assert final - {files.RECORD} == (
        {"appearance_unet", "controlnet"} if stage == "pose_control" else {"appearance_unet"}
    )
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]
    if stage == "appearance":
        assert not (out / "pipeline").exists()
        return
    pipeline = out / "pipeline"
    assert not (pipeline / "text_encoder").exists() and (pipeline / "empty_prompt" / "config.json").is_file()
    # The frozen models exactly as the pretrained folder stores them (float16 here), not the bf16 copies.
    for name in ("unet", "vae"):
        exported = load_file(pipeline / name / "diffusion_pytorch_model.safetensors")
        stored = load_file(workspace / "pretrained" / name / "diffusion_pytorch_model.safetensors")
        assert exported.keys() == stored.keys()
        assert all(
            exported[k].dtype == stored[k].dtype and torch.equal(exported[k], stored[k]) for k in stored
        )
    # The trained modules as trained (float32 master weights).
    model = trainer.accelerator.unwrap_model(trainer.model)
    exported = load_file(pipeline / "controlnet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(exported[k], v) for k, v in model.controlnet.state_dict().items())
    frames = quick_frames(load_pipeline(pipeline))
    assert frames.shape == (2, 32, 32, 3) and frames.std() > 0


def test_gradient_checkpointing_under_bf16_trains_the_same_weights(workspace, tmp_path):
    # The recomputation must see what the forward pass saw; under bf16 autocast the recomputed blocks run
    # the same kernels on the same inputs, so the weights agree to float32 rounding of the update.
    extra = {"train.mixed_precision": "bf16", "train.max_steps": 3}
    plain = tiny_trainer(workspace, "pose_control", tmp_path / "plain", **extra)
    plain.train()
    checkpointed = tiny_trainer(
        workspace, "pose_control", tmp_path / "ckpt", **extra, **{"train.gradient_checkpointing": True}
    )
    checkpointed.train()
    assert _max_diff(_trained(plain), _trained(checkpointed)) <= 1e-6


# -- gradient checkpointing and the reference bank ---------------------------------------------------


def _one_backward(trainer: MagicPoseTrainer, before_backward=None) -> dict[str, torch.Tensor]:
    """The gradients of one fixed batch."""
    trainer.dataset.set_epoch(0)
    items = [trainer.dataset[i] for i in range(2)]
    batch = {
        k: torch.stack([torch.as_tensor(it[k]) for it in items])
        for k in ("reference", "image", "pose", "seed")
    }
    model = trainer.accelerator.unwrap_model(trainer.model)
    loss = trainer.loss(batch)
    if before_backward is not None:
        before_backward(model)
    loss.backward()
    model.bank.reset()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_no_exception_leaves_a_checkpointed_region(workspace, tmp_path, monkeypatch):
    # The appearance UNet stops by raising BankFilled in its last transformer block. Raised inside a
    # checkpointed region, it aborts the region half-way (before PyTorch 2.13 it also left the region's
    # saved-tensor hooks installed): the trainer runs that one block outside checkpointing.
    calls, escaped = [], []
    original = torch.utils.checkpoint.checkpoint

    def recording(function, *args, **kwargs):
        calls.append(function)
        try:
            return original(function, *args, **kwargs)
        except BaseException as err:
            escaped.append(type(err).__name__)
            raise

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", recording)
    trainer = tiny_trainer(
        workspace, "pose_control", tmp_path / "out", **{"train.gradient_checkpointing": True}
    )
    grads = _one_backward(trainer)
    assert len(calls) > 20 and escaped == []
    assert grads and all(torch.isfinite(g).all() for g in grads.values())


def test_recomputation_uses_the_bank_mode_of_its_forward_pass(workspace, tmp_path):
    # Checkpointed blocks are recomputed during backward, when the bank's global mode may have moved on
    # (here: switched off before backward). Each recomputation replays the mode its forward pass saw.
    plain = _one_backward(tiny_trainer(workspace, "pose_control", tmp_path / "plain"))

    def switch_off(model):
        model.bank.mode = "off"

    checkpointed = _one_backward(
        tiny_trainer(workspace, "pose_control", tmp_path / "ckpt", **{"train.gradient_checkpointing": True}),
        before_backward=switch_off,
    )
    assert plain.keys() == checkpointed.keys()
    assert _max_diff(plain, checkpointed) <= 1e-6


# -- the probe pass runs where training runs -------------------------------------------------------


class _ProbeDone(Exception):
    pass


def test_probe_pass_runs_with_every_module_and_input_on_the_training_device(workspace, tmp_path, monkeypatch):
    # On a GPU the probe pass met trained models still on the CPU (and CPU timesteps). Here the training
    # device is the meta device, where any tensor left on the CPU raises.
    monkeypatch.setattr(Accelerator, "device", property(lambda self: torch.device("meta")))
    probe = MagicPoseTrainingModel.freeze_unused_parameters

    def probe_then_stop(self, *args):
        assert {p.device.type for p in [*self.parameters(), *self.unet.parameters()]} == {"meta"}
        raise _ProbeDone(probe(self, *args))

    monkeypatch.setattr(MagicPoseTrainingModel, "freeze_unused_parameters", probe_then_stop)
    for stage in ("appearance", "pose_control"):
        with pytest.raises(_ProbeDone) as done:
            tiny_trainer(workspace, stage, tmp_path / stage)
        unused = done.value.args[0]
        assert unused and all(n.startswith("appearance_unet.") for n in unused)


# -- checkpoints --------------------------------------------------------------------------------------


def _tensor_names(folder: Path) -> list[str]:
    names = []
    for file in folder.rglob("*.safetensors"):
        if file.parent.name == "empty_prompt":  # the prompt embedding, not a trained tensor
            continue
        with safe_open(str(file), framework="pt") as f:
            names += [f"{file.parent.name}.{k}" for k in f.keys()]
    return names


def test_a_checkpoint_holds_each_trained_tensor_once_and_loads_for_inference(workspace, tmp_path):
    # Before: accelerate's model.safetensors plus the diffusers folders, every trained tensor twice.
    out = tmp_path / "run"
    trainer = tiny_trainer(
        workspace, "pose_control", out, **{"train.max_steps": 2, "checkpoint.every_steps": 2}
    )
    trainer.train()
    checkpoint = checkpoints.list_checkpoints(out)[-1]
    names = _tensor_names(checkpoint)
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert sorted(names) == sorted(model.state_dict())  # every trained tensor, each exactly once
    assert not list(checkpoint.glob("model*")) and not list(checkpoint.glob("pytorch_model*"))
    assert sorted(p.name for p in checkpoint.iterdir()) == [
        files.RECORD,
        "appearance_unet",
        "controlnet",
        "empty_prompt",
        "optimizer.bin",
        "random_states_0.pkl",
        "trainer_state.json",
    ]
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["pretrained_dir"] == str((workspace / "pretrained").resolve())
    # magicpose infer --weights <checkpoint>: the trained modules completed by the run's frozen models.
    kwargs = dict(
        image=torch.zeros(3, 32, 32),
        pose_images=[torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1))] * 2,
        num_inference_steps=2,
        height=32,
        width=32,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    )
    from_checkpoint = load_pipeline(checkpoint)(**kwargs).frames[0]
    kwargs["generator"] = torch.Generator().manual_seed(0)
    from_export = load_pipeline(out / "pipeline")(**kwargs).frames[0]
    assert (from_checkpoint == from_export).all()


def test_checkpoint_without_its_pretrained_folder_is_refused_in_one_line(workspace, tmp_path):
    out = tmp_path / "run"
    tiny_trainer(workspace, "appearance", out, **{"train.max_steps": 1, "checkpoint.every_steps": 1}).train()
    checkpoint = checkpoints.list_checkpoints(out)[-1]
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    (checkpoint / "trainer_state.json").write_text(
        json.dumps({**state, "pretrained_dir": str(tmp_path / "gone")})
    )
    with pytest.raises(InputError, match="gone.*no vae/ folder") as err:
        load_pipeline(checkpoint)
    assert "\n" not in str(err.value)


# -- accumulation -------------------------------------------------------------------------------------


def test_accumulating_k_micro_batches_equals_one_batch_k_times_larger(workspace, tmp_path):
    one = tiny_trainer(
        workspace, "pose_control", tmp_path / "one", **{"train.batch_size": 4, "train.max_steps": 3}
    )
    one.train()
    accumulated = tiny_trainer(
        workspace,
        "pose_control",
        tmp_path / "acc",
        **{
            "train.batch_size": 2,
            "train.gradient_accumulation_steps": 2,
            "train.max_steps": 3,
            "logging.record_samples": True,
        },
    )
    assert accumulated.accelerator.gradient_accumulation_steps == 2  # accelerate's own (DeepSpeed reads it)
    assert accumulated.samples_per_step == 4
    accumulated.train()
    assert len(accumulated.step_times) == 3 and len(accumulated.seen) == 12
    assert _max_diff(_trained(one), _trained(accumulated)) <= 1e-6


# -- what users type -----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["no", "false", "False", "off", "none", "fp32"])
def test_mixed_precision_off_as_users_type_it(tmp_path, typed):
    # YAML 1.1 reads a bare `no` as a boolean; it was refused as "False".
    cfg = load_config(
        TINY_CONFIGS["appearance"],
        ["model.pretrained_dir=p", "data.root=d", f"train.mixed_precision={typed}"],
    )
    assert cfg.train.mixed_precision == "no"
    written = tmp_path / "c.yaml"
    written.write_text(
        TINY_CONFIGS["appearance"].read_text().replace('mixed_precision: "no"', "mixed_precision: no")
    )
    assert "mixed_precision: no\n" in written.read_text()
    assert load_config(written, ["model.pretrained_dir=p", "data.root=d"]).train.mixed_precision == "no"
    for ok in ("bf16", "BF16", "fp16"):
        assert (
            load_config(
                TINY_CONFIGS["appearance"],
                ["model.pretrained_dir=p", "data.root=d", f"train.mixed_precision={ok}"],
            ).train.mixed_precision
            == ok.lower()
        )
    with pytest.raises(InputError, match="must be no, fp16 or bf16"):
        load_config(
            TINY_CONFIGS["appearance"], ["model.pretrained_dir=p", "data.root=d", "train.mixed_precision=fp8"]
        )


def test_appearance_learning_rate_zero_freezes_the_appearance_unet(workspace, tmp_path):
    # 0 was read as "unset" and replaced by train.learning_rate.
    trainer = tiny_trainer(
        workspace,
        "pose_control",
        tmp_path / "out",
        **{"train.appearance_learning_rate": 0, "train.max_steps": 2},
    )
    before = _trained(trainer)
    trainer.train()
    after = _trained(trainer)
    appearance = [k for k in before if k.startswith("appearance_unet.")]
    control = [k for k in before if k.startswith("controlnet.")]
    assert appearance and all(torch.equal(before[k], after[k]) for k in appearance)
    assert any(not torch.equal(before[k], after[k]) for k in control)


# -- what the end of a run needs is checked at its start ------------------------------------------------


def test_run_needs_are_checked_before_training(workspace, tmp_path):
    with pytest.raises(
        InputError, match="validation \\(split 'test'\\): dataset folder .*test_set' does not exist"
    ):
        tiny_trainer(
            workspace,
            "appearance",
            tmp_path / "a",
            **{"validation.every_steps": 5, "validation.split": "test"},
        )
    broken = tmp_path / "broken"
    make_bare_pretrained(broken)
    (broken / "text_encoder").mkdir()
    with pytest.raises(InputError, match="text_encoder' is not a diffusers/transformers folder"):
        tiny_trainer(workspace, "appearance", tmp_path / "b", **{"model.pretrained_dir": broken})
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(InputError, match="cannot write to output_dir"):
        tiny_trainer(workspace, "appearance", blocked / "out")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_sd15_configs_use_the_original_augmentation():
    for stage in ("appearance", "pose_control"):
        cfg = load_config(
            ROOT / "configs" / f"sd15_{stage}.yaml",
            ["model.pretrained_dir=p", "data.root=d", "model.appearance_unet=a", "model.controlnet=c"],
        )
        assert cfg.data.crop == "random_resized" and list(cfg.data.crop_scale) == [0.9, 1.0]
        assert (cfg.train.mixed_precision, cfg.train.gradient_checkpointing) == ("bf16", True)
