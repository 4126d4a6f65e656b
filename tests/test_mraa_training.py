"""MRAA training: the config's refusals, both stages' steps, exact resume, 2 processes = 1, SIGKILL + resume,
the final pipeline folder and the command."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState
from conftest import make_square_dataset

from magicpose.errors import InputError
from magicpose.pipelines.pipeline_mraa import MRAAPipeline
from magicpose.training.mraa_config import load_mraa_config
from magicpose.training.mraa_trainer import MRAATrainer

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny_mraa.yaml"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_square_dataset(tmp_path_factory.mktemp("mraa_data"), videos=2, frames=5, size=32)


def _overrides(data: Path, out: Path, **extra) -> list[str]:
    values = {
        "data.root": data,
        "output_dir": out,
        "train.max_steps": 4,
        "checkpoint.every_steps": 2,
        **extra,
    }
    return [f"{k}={v}" for k, v in values.items()]


def _trainer(data: Path, out: Path, resume: str | None = None, **extra) -> MRAATrainer:
    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one precision per process
    return MRAATrainer(load_mraa_config(TINY, _overrides(data, out, **extra)), resume=resume)


def _weights(pipe: MRAAPipeline, names=("region_predictor", "generator", "bg_predictor")) -> dict:
    return {f"{n}.{k}": v.detach().clone() for n in names for k, v in getattr(pipe, n).state_dict().items()}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.background.bg_type=projective", "bg_type 'projective' must be one of"),
        ("loss.l1_weight=0", "needs loss.vgg19_path"),
        ("data.size=40", "must be a multiple of 16"),
        ("stage=train_avd", "needs model.init_from"),
        ("train.lr_decay_at=[1.5]", "must be fractions of the run"),
        ("model.regions.scale_factor=0.3", "must be 1/n"),
    ],
)
def test_bad_settings_are_one_line(data, tmp_path, override, message):
    with pytest.raises(InputError, match=message):
        load_mraa_config(TINY, [*_overrides(data, tmp_path), override])


def test_a_step_trains_all_three_networks_and_reports_every_term(data, tmp_path):
    trainer = _trainer(data, tmp_path / "run")
    before = _weights(trainer.pipe)
    batch = next(trainer._batches(0))
    losses = trainer.train_step(batch)
    assert set(losses) == {"loss", "perceptual", "equivariance_shift", "equivariance_affine"}
    assert losses["loss"] == pytest.approx(sum(v for k, v in losses.items() if k != "loss"), rel=1e-5)
    after = _weights(trainer.pipe)
    for network in ("region_predictor", "generator", "bg_predictor"):
        changed = [k for k in before if k.startswith(network) and not torch.equal(before[k], after[k])]
        assert changed, f"{network} did not change"


def test_the_learning_rate_drops_at_the_configured_fractions(data, tmp_path):
    trainer = _trainer(data, tmp_path / "run", **{"train.max_steps": 10, "train.lr_decay_at": "[0.5,0.8]"})
    rates = [trainer.learning_rate(step) for step in range(10)]
    assert rates[:5] == [2e-4] * 5
    assert rates[5:8] == pytest.approx([2e-5] * 3)
    assert rates[8:] == pytest.approx([2e-6] * 2)


def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(data, tmp_path):
    # the drop at 90 % falls after step 2 of 2 and after step 4 of 4: one schedule for all three runs
    schedule = {"train.lr_decay_at": "[0.9]"}
    straight = _trainer(data, tmp_path / "straight", **schedule)
    straight.train()
    first = _trainer(data, tmp_path / "split", **{"train.max_steps": 2, **schedule})
    first.train()
    resumed = _trainer(data, tmp_path / "split", resume="latest", **schedule)
    assert resumed.global_step == 2
    resumed.train()
    a, b = _weights(straight.pipe), _weights(resumed.pipe)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_final_folder_is_a_pipeline_and_the_avd_stage_trains_on_its_frozen_regions(data, tmp_path):
    run = tmp_path / "run"
    _trainer(data, run).train()
    pipe = MRAAPipeline.from_pretrained(run / "final")
    assert pipe.avd_network is None
    frames = [torch.rand(32, 32, 3).mul(255).byte().numpy() for _ in range(3)]
    assert pipe(image=frames[0], driving_frames=frames[1:], output_type="np").frames.shape == (2, 32, 32, 3)

    avd_run = tmp_path / "avd"
    trainer = _trainer(
        data, avd_run, stage="train_avd", **{"model.init_from": run, "train.learning_rate": 1e-3}
    )
    regions_before = _weights(trainer.pipe, ("region_predictor",))
    trainer.train()
    assert all(
        torch.equal(v, _weights(trainer.pipe, ("region_predictor",))[k]) for k, v in regions_before.items()
    )
    final = MRAAPipeline.from_pretrained(avd_run / "final")
    assert final.avd_network is not None
    out = final(image=frames[0], driving_frames=frames[1:], mode="avd", output_type="np").frames
    assert out.shape == (2, 32, 32, 3)
    # the train run's own folder is an input of the AVD run, never replaced
    assert (run / "final" / "model_index.json").is_file()


def test_a_train_run_from_a_finished_one_starts_from_its_weights_with_a_fresh_schedule(data, tmp_path):
    first = tmp_path / "first"
    _trainer(data, first, **{"train.max_steps": 2}).train()
    trained = _weights(MRAAPipeline.from_pretrained(first / "final"))
    longer = _trainer(data, tmp_path / "longer", **{"model.init_from": first / "final"})
    assert longer.global_step == 0 and longer.learning_rate(0) == 2e-4
    started = _weights(longer.pipe)
    assert started.keys() == trained.keys() and all(torch.equal(v, trained[k]) for k, v in started.items())
    fresh = _weights(_trainer(data, tmp_path / "fresh").pipe)
    assert any(not torch.equal(v, trained[k]) for k, v in fresh.items())  # a run without it starts elsewhere
    with pytest.raises(InputError, match=r"its generator does not fit this config's model.generator"):
        _trainer(
            data, tmp_path / "wider", **{"model.init_from": first, "model.generator.block_expansion": 16}
        )


def test_bf16_autocast_trains_with_finite_losses(data, tmp_path):
    trainer = _trainer(data, tmp_path / "bf16", **{"train.mixed_precision": "bf16"})
    losses = trainer.train_step(next(trainer._batches(0)))
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def _run(data: Path, out: Path, nproc: int = 1, env: dict | None = None, resume: bool = False, **extra):
    """``train_mraa.py`` in a subprocess (torchrun with gloo for nproc > 1), one thread per process."""
    args = [str(ROOT / "train_mraa.py"), "--config", str(TINY), *_overrides(data, out, **extra)]
    if resume:
        args += ["--resume", "latest"]
    if nproc > 1:
        args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), *args]
    else:
        args = [sys.executable, *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true", **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory) -> Path:
    """The uninterrupted run the subprocess runs are compared with, in this process (one thread, as they)."""
    out = tmp_path_factory.mktemp("mraa_straight")
    _trainer(data, out, **{"train.batch_size": 2}).train()
    return out


def _final(run: Path) -> dict:
    return _weights(MRAAPipeline.from_pretrained(run / "final"))


def test_two_processes_equal_one_process_with_the_same_global_batch(data, straight, tmp_path):
    result = _run(data, tmp_path / "ddp", nproc=2, **{"train.batch_size": 1})
    assert result.returncode == 0, result.stderr[-2000:]
    a, b = _final(straight), _final(tmp_path / "ddp")
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) <= 2e-3


def test_sigkill_then_resume_is_bitwise_equal(data, straight, tmp_path):
    out = tmp_path / "killed"
    killed = _run(data, out, env={"MAGICPOSE_FAULT": "sigkill-after-step:3"}, **{"train.batch_size": 2})
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "final").exists()
    resumed = _trainer(data, out, resume="latest", **{"train.batch_size": 2})  # in this process
    assert resumed.global_step == 2
    resumed.train()
    a, b = _final(straight), _final(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_command_refuses_a_bad_config_in_one_line(data, tmp_path, capsys):
    from magicpose.commands.train_mraa import main

    status = main(["--config", str(TINY), f"data.root={data}", f"output_dir={tmp_path}", "data.size=40"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0 and len(err) == 1 and "multiple of 16" in err[0]
    assert not any(tmp_path.iterdir())


def test_validation_previews_source_driving_and_generated_frames(data, tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    trainer = _trainer(
        data, run, **{"validation.every_steps": 2, "validation.num_frames": 3, "train.max_steps": 2}
    )
    trainer.train()
    (preview,) = sorted((run / "validation").iterdir())
    assert preview.name == "step-000002.png"
    with Image.open(preview) as image:
        assert image.size[0] >= 3 * 32 and image.size[1] >= 3 * 32  # 3 rows of source | driving | generated


def test_a_missing_validation_split_is_refused_before_training(data, tmp_path):
    with pytest.raises(InputError, match="validation: dataset .* has neither 'heldout_set/' nor 'heldout/'"):
        _trainer(data, tmp_path / "run", **{"validation.every_steps": 2, "validation.split": "heldout"})
    assert not (tmp_path / "run" / "checkpoints").exists()
