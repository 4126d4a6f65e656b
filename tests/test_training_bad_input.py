"""Bad input to the training commands (`magicpose train`, `train-pose2vid`, `train-base`): one `error:` line naming
the key, file or checkpoint and the fix, exit status 2, before any step and with nothing half-written; a loss that
stops being a number stops the run without saving it; Ctrl-C is one `interrupted:` line and 130; a failed run leaves
no output folder of its own behind empty; exported folders holding a user's file are refused at the start."""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState
from conftest import make_square_dataset
from safetensors.torch import load_file

from magicpose import cli, files
from magicpose.tiny_models import make_pipeline
from magicpose.training import checkpoints
from magicpose.training.magicpose_trainer import MagicPoseTrainer
from magicpose.training.pose2vid_trainer import Pose2VidTrainer

ROOT = Path(__file__).resolve().parents[1]
STAGE1 = ROOT / "configs" / "tiny_appearance.yaml"
STAGE2 = ROOT / "configs" / "tiny_pose_control.yaml"
POSE2VID = ROOT / "configs" / "tiny_pose2vid.yaml"
FACE = ROOT / "configs" / "tiny_pose2vid_face.yaml"
BASE = ROOT / "configs" / "demo_base.yaml"
# a tiny stage 0: the VAE and the UNet each halve the frames once
TINY_BASE = {
    "size": 16,
    "vae_channels": "[8,8]",
    "unet_channels": "[16,16]",
    "unet_attention_levels": "[true,true]",
    "unet_layers_per_block": 1,
    "text_hidden_size": 8,
    "vae_steps": 2,
    "unet_steps": 2,
    "batch_size": 2,
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("bad_input")
    make_pipeline("tiny", seed=0).save_pretrained(base / "pretrained")
    make_square_dataset(base / "data")
    return base


def _dotlist(values: dict) -> list[str]:
    return [f"{k}={v}" for k, v in values.items()]


def _train(
    workspace: Path, out: Path, *extra: str, stage: str = "appearance", resume: str | None = None
) -> int:
    """`magicpose train` in this process, on the tiny config: 4 steps, a checkpoint after each, no validation."""
    values = {
        "model.pretrained_dir": workspace / "pretrained",
        "data.root": workspace / "data",
        "output_dir": out,
        "validation.every_steps": 0,
        "checkpoint.every_steps": 1,
        "checkpoint.keep_last": 0,
        "train.max_steps": 4,
    }
    if stage == "pose_control":
        values["model.appearance_unet"] = workspace / "pretrained" / "unet"
    config = STAGE1 if stage == "appearance" else STAGE2
    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one state per process
    return cli.main(
        [
            "train",
            "--stage",
            stage,
            "--config",
            str(config),
            *(["--resume", resume] if resume else []),
            *_dotlist(values),
            *extra,
        ]
    )


def _pose2vid(workspace: Path, out: Path, *extra: str, resume: str | None = None) -> int:
    """`magicpose train-pose2vid` in this process: the tiny global stage, 3 steps, a checkpoint after each."""
    values = {
        "data.root": workspace / "data",
        "output_dir": out,
        "validation.every_steps": 0,
        "checkpoint.every_steps": 1,
        "checkpoint.keep_last": 0,
        "train.max_steps": 3,
        "model.architecture": "global",
        "model.ngf": 8,
        "train.fix_global_steps": 0,
    }
    AcceleratorState._reset_state(reset_partial_state=True)
    return cli.main(
        [
            "train-pose2vid",
            "--config",
            str(POSE2VID),
            *(["--resume", resume] if resume else []),
            *_dotlist(values),
            *extra,
        ]
    )


def _base(workspace: Path, out: Path, *extra: str, config: Path | None = BASE) -> int:
    values = {"data_root": workspace / "data", "output_dir": out, **TINY_BASE}
    return cli.main(["train-base", *(["--config", str(config)] if config else []), *_dotlist(values), *extra])


def _error(capsys, prefix: str = "error") -> str:
    """The one line the command wrote on stderr with ``prefix``: on a line of its own (a progress bar before it
    was closed first), the only one, and no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.split("\n") if f"{prefix}:" in line]
    assert len(lines) == 1 and lines[0].startswith(f"{prefix}: "), err
    assert "Traceback" not in err, err
    return lines[0].removeprefix(f"{prefix}: ")


def _steps(out: Path) -> list[int]:
    return [checkpoints.read_step(c) for c in checkpoints.list_checkpoints(out)]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time: to prove that nothing was written."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def magicpose_run(workspace, tmp_path_factory) -> Path:
    """A finished `magicpose train` stage-1 run: checkpoints 1 and 2, final/."""
    out = tmp_path_factory.mktemp("magicpose_run") / "run"
    assert _train(workspace, out, "train.max_steps=2") == 0
    return out


@pytest.fixture(scope="module")
def pose2vid_run(workspace, tmp_path_factory) -> Path:
    """A finished `train-pose2vid` global run: checkpoints 1 to 3, final/."""
    out = tmp_path_factory.mktemp("pose2vid_run") / "run"
    assert _pose2vid(workspace, out) == 0
    return out


# ------------------------------------------------------------------------------------------------------------
# numbers: every value in range and finite, before any work


TRAIN_NUMBERS = [
    ("train.batch_size=0", "train.batch_size=0 must be at least 1"),
    ("train.max_steps=-1", "train.max_steps=-1 must be at least 0"),
    ("train.learning_rate=nan", "train.learning_rate=nan must be a finite number"),
    ("train.learning_rate=0", "train.learning_rate=0.0 must be greater than 0"),
    ("train.appearance_learning_rate=-1e-5", "train.appearance_learning_rate=-1e-05 must be at least 0"),
    ("train.gradient_accumulation_steps=0", "train.gradient_accumulation_steps=0 must be at least 1"),
    ("train.adam_beta1=1", "train.adam_beta1=1.0 must be less than 1"),
    ("train.adam_beta2=-0.5", "train.adam_beta2=-0.5 must be at least 0"),
    ("train.adam_epsilon=0", "train.adam_epsilon=0.0 must be greater than 0"),
    ("train.weight_decay=-1", "train.weight_decay=-1.0 must be at least 0"),
    ("train.max_grad_norm=inf", "train.max_grad_norm=inf must be a finite number"),
    ("train.max_grad_norm=-1", "train.max_grad_norm=-1.0 must be at least 0"),
    ("train.seed=-1", "train.seed=-1 must be at least 0"),
    ("train.seed=4294967296", "train.seed=4294967296 must be at most 4294967295"),
    ("data.height=0", "data.height=0 must be at least 8"),
    ("data.num_workers=-2", "data.num_workers=-2 must be at least 0"),
    ("data.max_frame_distance=-1", "data.max_frame_distance=-1 must be at least 0"),
    ("data.crop_scale=[0.5,nan]", "data.crop_scale=[0.5, nan] must be a finite number"),
    (
        "data.crop_scale=[0,1]",
        "data.crop_scale=[0.0, 1.0] must be two area fractions [min, max] with 0 < min <= max <= 1",
    ),
    ("checkpoint.every_steps=-1", "checkpoint.every_steps=-1 must be at least 0"),
    ("checkpoint.keep_last=-1", "checkpoint.keep_last=-1 must be at least 0"),
    ("validation.num_inference_steps=0", "validation.num_inference_steps=0 must be at least 1"),
    ("validation.guidance_scale=-inf", "validation.guidance_scale=-inf must be a finite number"),
    ("logging.log_every=-1", "logging.log_every=-1 must be at least 0"),
]
POSE2VID_NUMBERS = [
    ("train.batch_size=0", "train.batch_size=0 must be at least 1"),
    ("train.max_steps=-1", "train.max_steps=-1 must be at least 0"),
    ("train.learning_rate=nan", "train.learning_rate=nan must be a finite number"),
    ("train.learning_rate=-2e-4", "train.learning_rate=-0.0002 must be greater than 0"),
    ("train.decay_steps=-1", "train.decay_steps=-1 must be at least 0"),
    ("train.adam_beta2=1.5", "train.adam_beta2=1.5 must be less than 1"),
    ("train.max_grad_norm=nan", "train.max_grad_norm=nan must be a finite number"),
    ("loss.lambda_feat=inf", "loss.lambda_feat=inf must be a finite number"),
    ("loss.l1_weight=-1", "loss.l1_weight=-1.0 must be at least 0"),
    ("loss.vgg_weight=-1", "loss.vgg_weight=-1.0 must be at least 0"),
    ("model.ngf=0", "model.ngf=0 must be at least 1"),
    ("discriminator.num_D=0", "discriminator.num_D=0 must be at least 1"),
    ("data.width=-8", "data.width=-8 must be at least 1"),
    ("train.seed=-5", "train.seed=-5 must be at least 0"),
]
FACE_NUMBERS = [
    ("train.learning_rate=inf", "train.learning_rate=inf must be a finite number"),
    ("model.size_fraction=nan", "model.size_fraction=nan must be a finite number"),
    ("model.size_fraction=0", "model.size_fraction=0.0 must be in (0, 1]"),
    ("model.n_downsampling=0", "model.n_downsampling=0 must be at least 1"),
    ("loss.l1_weight=nan", "loss.l1_weight=nan must be a finite number"),
]
BASE_NUMBERS = [
    ("size=0", "size=0 must be at least 1"),
    ("size=18", "size=18 must be a multiple of 4 (the VAE and the UNet halve it 2 times in all)"),
    ("vae_steps=0", "vae_steps=0 must be at least 1"),
    ("unet_steps=-3", "unet_steps=-3 must be at least 1"),
    ("vae_lr=nan", "vae_lr=nan must be a finite number"),
    ("unet_lr=0", "unet_lr=0.0 must be greater than 0"),
    ("vae_kl_weight=-1", "vae_kl_weight=-1.0 must be at least 0"),
    ("batch_size=0", "batch_size=0 must be at least 1"),
    ("seed=-1", "seed=-1 must be at least 0"),
    ("vae_channels=[12,8]", "vae_channels=[12, 8] must be one or more widths, each a multiple of 8"),
    (
        "unet_attention_levels=[true]",
        "unet_attention_levels=[True] must have one entry per unet_channels level",
    ),
    ("text_hidden_size=6", "text_hidden_size=6 must be a multiple of 4"),
]


@pytest.mark.parametrize(
    ("command", "override", "expected"),
    [("train", o, e) for o, e in TRAIN_NUMBERS]
    + [("train-pose2vid", o, e) for o, e in POSE2VID_NUMBERS]
    + [("face", o, e) for o, e in FACE_NUMBERS]
    + [("train-base", o, e) for o, e in BASE_NUMBERS],
)
def test_a_number_out_of_range_is_one_line_naming_its_key_before_any_work(
    workspace, tmp_path, capsys, command, override, expected
):
    out = tmp_path / "out"
    if command == "train":
        status = _train(workspace, out, override)
    elif command == "train-pose2vid":
        status = _pose2vid(workspace, out, override)
    elif command == "face":
        AcceleratorState._reset_state(reset_partial_state=True)
        status = cli.main(
            [
                "train-pose2vid",
                "--config",
                str(FACE),
                f"data.root={workspace / 'data'}",
                f"model.init_from={tmp_path}",
                f"output_dir={out}",
                override,
            ]
        )
    else:
        status = _base(workspace, out, override)
    assert status == 2
    assert _error(capsys).startswith(expected)
    assert not out.exists()


def test_max_steps_zero_still_exports_the_starting_weights(workspace, tmp_path, capsys):
    # 0 is a valid length (the untrained export is used to start other runs); -1 was one too, silently.
    assert _pose2vid(workspace, tmp_path / "zero", "train.max_steps=0") == 0
    assert (tmp_path / "zero" / "final" / "generator").is_dir()
    assert _pose2vid(workspace, tmp_path / "negative", "train.max_steps=-1") == 2
    assert _error(capsys) == "train.max_steps=-1 must be at least 0"
    assert not (tmp_path / "negative").exists()


# ------------------------------------------------------------------------------------------------------------
# config files: the three commands read them alike


def _config_files(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    bad = {"invalid": "train: [1, 2\nsize: 3\n", "list": "- size\n- 64\n"}
    made = {name: folder / f"{name}.yaml" for name in ("invalid", "list", "binary", "folder")}
    for name, text in bad.items():
        made[name].write_text(text)
    made["binary"].write_bytes(bytes(range(256)) * 4)
    made["folder"].mkdir()
    made["missing"] = folder / "missing.yaml"
    return made


@pytest.mark.parametrize("command", ["train", "train-pose2vid", "train-base"])
def test_a_bad_config_file_is_one_line_naming_it(workspace, tmp_path, capsys, command):
    made = _config_files(tmp_path / "configs")
    example = {
        "train": "configs/tiny_appearance.yaml",
        "train-pose2vid": "configs/tiny_pose2vid.yaml",
        "train-base": "configs/demo_base.yaml",
    }[command]
    expected = {
        "invalid": f"config '{made['invalid']}' is not valid YAML (did not find expected ',' or ']' at line 2, "
        f"column 5): fix the file or pass a YAML file such as {example}",
        "list": f"config '{made['list']}' is not a mapping of keys (it holds a list): pass a YAML file such as "
        f"{example}",
        "binary": f"config '{made['binary']}' is not a text file (it is not UTF-8): pass a YAML file such as "
        f"{example}",
        "folder": f"config '{made['folder']}' is a folder: pass a YAML file such as {example}",
        "missing": f"config '{made['missing']}' does not exist: pass a YAML file such as {example}",
    }
    out = tmp_path / "out"
    args = {
        "train": ["train", "--stage", "appearance"],
        "train-pose2vid": ["train-pose2vid"],
        "train-base": ["train-base"],
    }[command]
    for name, path in made.items():
        AcceleratorState._reset_state(reset_partial_state=True)
        assert cli.main([*args, "--config", str(path), f"output_dir={out}"]) == 2, name
        assert _error(capsys) == expected[name]
    assert not out.exists()


def test_train_base_refuses_a_key_typo_a_wrong_type_and_a_bare_word_in_one_line(workspace, tmp_path, capsys):
    typo = tmp_path / "typo.yaml"
    typo.write_text("sise: 64\n")
    out = tmp_path / "out"
    assert _base(workspace, out, config=typo) == 2
    assert _error(capsys) == (
        f"bad stage 0 config in '{typo}' or the key=value overrides (Key 'sise' not in "
        "'BaseConfig'. Did you mean: 'size'?): correct that key or value"
    )
    assert _base(workspace, out, "vae_steps=many") == 2
    assert _error(capsys) == (
        f"bad stage 0 config in '{BASE}' or the key=value overrides (vae_steps: Value 'many' "
        "of type 'str' could not be converted to Integer): correct that key or value"
    )
    assert _base(workspace, out, "vae_steps") == 2
    assert _error(capsys) == "override 'vae_steps' is not key=value: pass e.g. train.max_steps=100"
    assert cli.main(["train-base", "size=16"]) == 2
    assert _error(capsys) == (
        "the config does not set data_root, output_dir: add them to the file or pass key=value"
    )
    assert not out.exists()


# ------------------------------------------------------------------------------------------------------------
# train-base writes one folder, whole


def test_train_base_commits_one_folder_and_refuses_one_holding_a_users_file(workspace, tmp_path, capsys):
    out = tmp_path / "new" / "base"
    assert _base(workspace, out) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote {out}")
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([files.RECORD, "base_training.json", "text_encoder", "tokenizer", "unet", "vae"])
    assert _base(workspace, out, "seed=1") == 0  # an earlier output of train-base is replaced
    assert json.loads((out / "base_training.json").read_text())["config"]["seed"] == 1
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    assert _base(workspace, out) == 2
    assert _error(capsys) == (
        f"output folder '{out}' holds files magicpose did not write there (notes.txt): move "
        "them away or choose another output_dir (only an earlier output of magicpose is "
        "replaced)"
    )
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["base"]  # no temporary left


def test_train_base_stops_on_a_non_finite_loss_and_writes_nothing(workspace, tmp_path, capsys, monkeypatch):
    mse = torch.nn.functional.mse_loss
    calls = []

    def second_is_nan(*args, **kwargs):
        calls.append(1)
        loss = mse(*args, **kwargs)
        return loss * math.nan if len(calls) == 2 else loss

    monkeypatch.setattr(torch.nn.functional, "mse_loss", second_is_nan)
    out = tmp_path / "new" / "base"
    assert _base(workspace, out) == 2
    assert _error(capsys) == "the VAE loss became nan at step 2: lower vae_lr; nothing was written"
    assert not (tmp_path / "new").exists()  # the folders the run made are gone with it


# ------------------------------------------------------------------------------------------------------------
# a loss that is no longer a number


def _nan_at(monkeypatch, cls, method: str, step: int, error: type[BaseException] | None = None) -> None:
    """``cls.method`` returns NaN (or raises ``error``) from its ``step``-th call on."""
    original, calls = getattr(cls, method), []

    def patched(self, *args, **kwargs):
        calls.append(1)
        result = original(self, *args, **kwargs)
        if len(calls) >= step:
            if error is not None:
                raise error()
            if isinstance(result, tuple):  # the GAN's (terms, saved)
                result[0]["g_gan"] = result[0]["g_gan"] * math.nan
            else:
                result = result * math.nan
        return result

    monkeypatch.setattr(cls, method, patched)


def test_a_nan_loss_stops_magicpose_training_before_its_step_and_exports_nothing(
    workspace, tmp_path, capsys, monkeypatch
):
    _nan_at(monkeypatch, MagicPoseTrainer, "loss", 3)
    out = tmp_path / "run"
    assert _train(workspace, out) == 2
    last = out / "checkpoints" / "checkpoint-2"
    assert _error(capsys) == (
        "the loss became nan at step 3: lower train.learning_rate or set train.max_grad_norm; "
        f"nothing of step 3 or later was saved (the last checkpoint kept is '{last}': resume "
        "with --resume latest)"
    )
    assert _steps(out) == [1, 2]
    assert not (out / "final").exists() and not (out / "pipeline").exists()
    weights = load_file(last / "appearance_unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_a_nan_loss_at_the_first_step_leaves_no_output_folder_but_never_removes_an_existing_one(
    workspace, tmp_path, capsys, monkeypatch
):
    _nan_at(monkeypatch, MagicPoseTrainer, "loss", 1)
    out = tmp_path / "new" / "run"
    assert _train(workspace, out, "train.max_steps=2", stage="pose_control") == 2
    assert _error(capsys).startswith("the loss became nan at step 1: ")
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    assert _train(workspace, existing, "train.max_steps=2") == 2
    assert _error(capsys).endswith("(no checkpoint was written)")
    assert existing.is_dir() and not (existing / "final").exists() and not _steps(existing)


def test_a_nan_loss_stops_pose2vid_training(workspace, tmp_path, capsys, monkeypatch):
    _nan_at(monkeypatch, Pose2VidTrainer, "generator_losses", 2)
    out = tmp_path / "run"
    assert _pose2vid(workspace, out) == 2
    assert _error(capsys) == (
        "the loss became nan at step 2: lower train.learning_rate or set train.max_grad_norm; "
        "nothing of step 2 or later was saved (the last checkpoint kept is "
        f"'{out / 'checkpoints' / 'checkpoint-1'}': resume with --resume latest)"
    )
    assert _steps(out) == [1] and not (out / "final").exists()


def test_weights_that_became_non_finite_are_never_saved(workspace, tmp_path, capsys, monkeypatch):
    original = Pose2VidTrainer.train_step

    def poisoned(self, batch):
        losses = original(self, batch)
        with torch.no_grad():
            next(self.unwrapped_generator.parameters()).fill_(math.inf)  # the loss of this step was finite
        return losses

    monkeypatch.setattr(Pose2VidTrainer, "train_step", poisoned)
    out = tmp_path / "run"
    assert _pose2vid(workspace, out) == 2
    assert _error(capsys).startswith("the generator weights became non-finite (net.")
    assert not out.exists()


# ------------------------------------------------------------------------------------------------------------
# Ctrl-C


def test_ctrl_c_is_one_line_naming_the_checkpoint_kept_and_exit_130(workspace, tmp_path, capsys, monkeypatch):
    _nan_at(monkeypatch, MagicPoseTrainer, "loss", 3, error=KeyboardInterrupt)
    out = tmp_path / "run"
    assert _train(workspace, out) == 130
    assert _error(capsys, "interrupted") == (
        f"training stopped; the last checkpoint kept is '{out / 'checkpoints' / 'checkpoint-2'}': resume with "
        "--resume latest (nothing was exported)"
    )
    assert _steps(out) == [1, 2] and not (out / "final").exists()
    monkeypatch.undo()
    assert _train(workspace, out, resume="latest") == 0  # and the run goes on from there
    assert _steps(out) == [1, 2, 3, 4] and (out / "final").is_dir()


def test_ctrl_c_before_any_checkpoint_leaves_no_output_folder(workspace, tmp_path, capsys, monkeypatch):
    _nan_at(monkeypatch, Pose2VidTrainer, "train_step", 1, error=KeyboardInterrupt)
    out = tmp_path / "run"
    assert _pose2vid(workspace, out) == 130
    assert (
        _error(capsys, "interrupted") == "training stopped; no checkpoint was written, nothing was exported"
    )
    assert not out.exists()


# ------------------------------------------------------------------------------------------------------------
# resume


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    return out


@pytest.mark.parametrize("damage", ["invalid json", "no step", "truncated optimizer", "truncated weights"])
def test_a_damaged_checkpoint_is_one_line_and_the_run_does_not_start(
    magicpose_run, workspace, tmp_path, capsys, damage
):
    out = _copy(magicpose_run, tmp_path)
    last = out / "checkpoints" / "checkpoint-2"
    state = last / checkpoints.STATE_FILE
    if damage == "invalid json":
        state.write_text('{"step": 2,')
    elif damage == "no step":
        state.write_text(json.dumps({"stage": "appearance"}))
    elif damage == "truncated optimizer":
        data = (last / "optimizer.bin").read_bytes()
        (last / "optimizer.bin").write_bytes(data[: len(data) // 2])
    else:
        weights = last / "appearance_unet" / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    before = _snapshot(out)
    assert _train(workspace, out, resume="latest") == 2
    fix = f"delete '{last}' to resume from the checkpoint before it, or pass --resume <checkpoint folder>"
    line = _error(capsys)
    if damage == "invalid json":
        assert line == (
            f"checkpoint '{last}' has a damaged trainer_state.json (Expecting property name enclosed "
            f"in double quotes: line 1 column 12 (char 11)): {fix}"
        )
    elif damage == "no step":
        assert line == f"checkpoint '{last}' has a damaged trainer_state.json (no 'step'): {fix}"
    else:
        assert line.startswith(f"cannot resume from checkpoint '{last}' (")
        assert line.endswith(f"): it is damaged or was written by a run with other model settings; {fix}")
    assert _snapshot(out) == before  # no step taken, nothing written
    # the same checkpoint named on the command line, into a new output_dir: the folder made for the run is gone
    assert _train(workspace, tmp_path / "new", resume=str(last)) == 2
    assert "pass another checkpoint folder to --resume, or --resume latest" in _error(capsys)
    assert not (tmp_path / "new").exists()


def test_a_checkpoint_of_another_trainer_or_stage_is_refused(
    magicpose_run, pose2vid_run, workspace, tmp_path, capsys
):
    magicpose_checkpoint = magicpose_run / "checkpoints" / "checkpoint-2"
    pose2vid_checkpoint = pose2vid_run / "checkpoints" / "checkpoint-3"
    fix = "resume from a checkpoint of this stage, or choose another output_dir"
    out = tmp_path / "out"
    assert _train(workspace, out, resume=str(pose2vid_checkpoint)) == 2
    assert _error(capsys) == (
        f"checkpoint '{pose2vid_checkpoint}' was written by stage pose2vid_global, this run "
        f"trains stage appearance: {fix}"
    )
    assert _pose2vid(workspace, out, resume=str(magicpose_checkpoint)) == 2
    assert _error(capsys) == (
        f"checkpoint '{magicpose_checkpoint}' was written by stage appearance, this run "
        f"trains stage pose2vid_global: {fix}"
    )
    assert (
        _pose2vid(workspace, out, "model.architecture=local", "model.ngf=4", resume=str(pose2vid_checkpoint))
        == 2
    )
    assert _error(capsys) == (
        f"checkpoint '{pose2vid_checkpoint}' was written by stage pose2vid_global, this run "
        f"trains stage pose2vid_local: {fix}"
    )
    assert not out.exists()
    copy = _copy(magicpose_run, tmp_path)  # --resume latest in the output_dir of the other stage
    before = _snapshot(copy)
    assert _train(workspace, copy, stage="pose_control", resume="latest") == 2
    assert _error(capsys) == (
        f"checkpoint '{copy / 'checkpoints' / 'checkpoint-2'}' was written by stage "
        f"appearance, this run trains stage pose_control: {fix}"
    )
    assert _snapshot(copy) == before


# ------------------------------------------------------------------------------------------------------------
# outputs: committed whole; never over a user's file or an input


def test_checkpoints_and_exports_are_committed_with_their_record(magicpose_run, workspace, tmp_path):
    for folder in (*checkpoints.list_checkpoints(magicpose_run), magicpose_run / "final"):
        assert files.foreign_files(folder) == [] and (folder / files.RECORD).is_file()
    out = _copy(magicpose_run, tmp_path)
    # resumed from checkpoint 1: checkpoint 2 and final/ are replaced (each an earlier output of magicpose)
    assert _train(workspace, out, "train.max_steps=2", resume=str(out / "checkpoints" / "checkpoint-1")) == 0
    assert _steps(out) == [1, 2] and (out / "final" / "appearance_unet").is_dir()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary left
    assert not [p.name for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("where", ["final", "pipeline", "checkpoint", "pose2vid final"])
def test_an_export_holding_a_users_file_is_refused_before_any_step(
    magicpose_run, pose2vid_run, workspace, tmp_path, capsys, where
):
    run = pose2vid_run if where == "pose2vid final" else magicpose_run
    out = _copy(run, tmp_path)
    folder = {
        "final": out / "final",
        "pipeline": out / "pipeline",
        "checkpoint": out / "checkpoints" / "checkpoint-2",
        "pose2vid final": out / "final",
    }[where]
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("mine")
    before = _snapshot(out)
    if where == "pose2vid final":
        status = _pose2vid(workspace, out)
    elif where == "checkpoint":  # resumed from checkpoint 1, the run would write checkpoint 2 again
        status = _train(workspace, out, "train.max_steps=2", resume=str(out / "checkpoints" / "checkpoint-1"))
    else:
        status = _train(workspace, out, "train.max_steps=2", stage="pose_control")
    assert status == 2
    assert _error(capsys) == (
        f"output folder '{folder}' holds files magicpose did not write there (notes.txt): "
        "move them away or choose another output_dir (only an earlier output of magicpose "
        "is replaced)"
    )
    assert _snapshot(out) == before


def test_an_input_inside_the_export_it_would_replace_is_refused(magicpose_run, workspace, tmp_path, capsys):
    out = _copy(magicpose_run, tmp_path)  # stage 2 into the output_dir of stage 1, from its own final/
    appearance = out / "final" / "appearance_unet"
    before = _snapshot(out)
    assert _train(workspace, out, f"model.appearance_unet={appearance}", stage="pose_control") == 2
    assert _error(capsys) == (
        f"output '{out / 'final'}' holds the input '{appearance}': choose another output_dir "
        "(an input is never overwritten)"
    )
    assert _snapshot(out) == before


def test_pruning_keeps_a_checkpoint_holding_a_users_file(tmp_path, capsys) -> None:
    from magicpose.files import atomic_path
    from magicpose.training import checkpoints

    root = checkpoints.checkpoint_root(tmp_path)
    for step in (1, 2, 3):
        with atomic_path(
            root / f"checkpoint-{step}", record=step != 2
        ) as tmp:  # 2: an earlier version's, no record
            tmp.mkdir(parents=True)
            (tmp / checkpoints.STATE_FILE).write_text(json.dumps({"step": step}))
    (root / "checkpoint-1" / "eval notes.txt").write_text("best so far")
    checkpoints.prune(tmp_path, keep_last=1)
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-1", "checkpoint-3"]
    assert (root / "checkpoint-1" / "eval notes.txt").read_text() == "best so far"
    assert capsys.readouterr().err == (
        f"warning: '{root / 'checkpoint-1'}' is kept although older than the last 1: "
        "it holds files the trainer did not write there (eval notes.txt)\n"
    )
