"""vid2vid training on the shared loop: the clips, the growing clip length, the step (groups of frames, the
first one hallucinated, every loss term, three optimizers), the temporal discriminator's clips, the reference
flow's terms, 2 processes = 1 process, SIGKILL + resume bitwise, the final folder."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState
from conftest import make_square_dataset, train_here

from magicpose import cli
from magicpose.data.clips import ClipDataset
from magicpose.errors import InputError
from magicpose.models.vid2vid import Vid2VidGenerator
from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline
from magicpose.training import checkpoints
from magicpose.training.flow_reference import FlowReference, masked_l1
from magicpose.training.vid2vid_config import clip_length, load_vid2vid_config
from magicpose.training.vid2vid_trainer import Vid2VidTrainer, describe
from magicpose.weights import load_vid2vid_pipeline

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny_vid2vid.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_square_dataset(tmp_path_factory.mktemp("vid2vid") / "data", frames=8)  # 3 videos x 8 frames


def _overrides(data: Path, out: Path, **extra) -> list[str]:
    values = {
        "data.root": data,
        "output_dir": out,
        "validation.every_steps": 0,
        "checkpoint.every_steps": 0,
        **extra,
    }
    return [f"{k}={v}" for k, v in values.items()]


def _trainer(data: Path, out: Path, resume: str | None = None, **extra) -> Vid2VidTrainer:
    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one state per process
    return Vid2VidTrainer(load_vid2vid_config(TINY, _overrides(data, out, **extra)), resume=resume)


def _batch(trainer: Vid2VidTrainer, indices) -> dict:
    items = [trainer.dataset[i] for i in indices]
    return {k: torch.stack([it[k] for it in items]) for k in ("poses", "frames")}


def _state(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# -- data and schedule --------------------------------------------------------------------------------------


def test_clips_are_consecutive_frames_of_one_video(data):
    ds = ClipDataset(data, "train", height=32, width=32, length=6)
    assert len(ds) == 9  # 3 videos x (8 - 6 + 1)
    item = ds[4]
    v, start = ds.locate(4)
    assert (
        (v, start) == (1, 1)
        and item["video"] == ds.videos[1].name
        and item["name"] == ds.videos[1].frames[1].name
    )
    assert item["poses"].shape == (6, 3, 32, 32) and item["poses"].dtype == torch.uint8
    assert item["frames"].shape == (6, 3, 32, 32) and float(item["frames"].min()) >= -1
    assert torch.equal(ds[3]["frames"][1:], ds[4]["frames"][:-1])  # the next clip is one frame later
    with pytest.raises(InputError, match="no video of split 'train' .* has 9 frames \\(the longest has 8\\)"):
        ClipDataset(data, "train", length=9)


def test_the_clip_length_doubles_every_grow_every_steps_up_to_the_maximum(data, tmp_path):
    train = load_vid2vid_config(TINY, _overrides(data, tmp_path)).train
    assert [clip_length(train, s) for s in (0, 9, 10, 19, 20, 100)] == [5, 5, 6, 6, 6, 6]
    fixed = load_vid2vid_config(TINY, _overrides(data, tmp_path, **{"train.grow_every": 0})).train
    assert clip_length(fixed, 1000) == 5


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "train.max_frames_total=3",
            "train.max_frames_total 3 is below train.n_frames_total 5: the clips only grow",
        ),
        ("train.n_frames_total=2", "train.n_frames_total 2 must be at least model.n_frames_G 3"),
        ("data.height=34", "data.height and data.width must be multiples of 4"),
        ("model.norm=batch", "model.norm 'batch' must be one of instance, instance_affine"),
        ("train.mixed_precision=fp16", "train.mixed_precision=fp16 is not supported for vid2vid training"),
        ("loss.vgg_weight=10", "loss.vgg_weight=10 needs loss.vgg19_path"),
        ("train.fix_global_steps=2", "train.fix_global_steps=2 needs model.n_scales_spatial of at least 2"),
        ("model.init_from=somewhere", "model.init_from=somewhere needs model.n_scales_spatial of at least 2"),
    ],
)
def test_bad_settings_are_one_line(data, tmp_path, override, message):
    with pytest.raises(InputError) as err:
        load_vid2vid_config(TINY, [*_overrides(data, tmp_path), override])
    assert str(err.value).startswith(message)


# -- the step -----------------------------------------------------------------------------------------------


def test_a_step_updates_all_three_networks_and_reports_every_term(data, tmp_path):
    trainer = _trainer(data, tmp_path / "run")
    networks = trainer.trained_networks()
    before = {name: _state(net) for name, net in networks.items()}
    calls = []
    original = trainer.unwrapped_generator.forward

    def recording(poses, previous, use_raw_only=False):
        calls.append((use_raw_only, [float(p.abs().sum()) for p in previous]))
        return original(poses, previous, use_raw_only=use_raw_only)

    trainer.unwrapped_generator.forward = recording
    losses = trainer.train_step(_batch(trainer, [0, 4]))
    # clip length 5 at step 0: frames 2, 3 and 4 are generated, in one group: hallucinated, from zeros first
    assert [c[0] for c in calls] == [True, True, True] and calls[0][1] == [0.0]
    assert calls[1][1][0] > 0  # the second frame sees the first one
    assert set(losses) == {"g", "g_gan", "g_feat", "f_warp", "g_t0_gan", "g_t0_feat", "d", "d_t"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    for name, net in networks.items():
        after = net.state_dict()
        assert any(not torch.equal(before[name][k], after[k]) for k in after), name


def test_later_groups_warp_and_the_clip_grows(data, tmp_path):
    trainer = _trainer(data, tmp_path / "run", **{"train.max_frames_per_gpu": 2})
    trainer.global_step = 10  # clip length 6: frames 2..5 in groups (2, 3), (4, 5)
    flags = []
    original = trainer.unwrapped_generator.forward
    trainer.unwrapped_generator.forward = lambda p, prev, use_raw_only=False: (
        flags.append(use_raw_only),
        original(p, prev, use_raw_only=use_raw_only),
    )[1]
    losses = trainer.train_step(_batch(trainer, [0, 1]))
    assert flags == [True, True, False, False]
    assert "g_t0_gan" in losses  # the second group's clip (3, 4, 5) has three generated frames


def test_temporal_clips_are_frames_n_apart_with_zero_flows_without_a_reference(data, tmp_path):
    trainer = _trainer(data, tmp_path / "run", **{"temporal.n_scales_temporal": 2})
    frames = torch.arange(7.0).view(1, 7, 1, 1, 1).expand(1, 7, 3, 4, 4)  # frame value = its position + 2
    clips = trainer._temporal_clips(frames, first=2, ends=range(4, 9), scale=0)
    assert clips.shape == (5, 3 * 3 + 2 * 2, 4, 4)
    assert clips[:, 0:9:3, 0, 0].tolist()[0] == [0.0, 1.0, 2.0]  # frames 2, 3, 4
    assert float(clips[:, 9:].abs().sum()) == 0
    skipped = trainer._temporal_clips(frames, first=2, ends=range(4, 9), scale=1)
    assert skipped.shape[0] == 1 and skipped[0, 0:9:3, 0, 0].tolist() == [0.0, 3.0, 6.0]  # frames 2, 5, 8


def test_a_reference_flow_adds_its_masked_terms(data, tmp_path):
    trainer = _trainer(data, tmp_path / "run")
    trainer.flow = FlowReference(lambda current, previous: torch.zeros_like(current[:, :2]), threshold=0.02)
    losses = trainer.train_step(_batch(trainer, [0, 4]))
    assert {"f_flow", "w", "g_warp"} < set(losses)
    x, target = torch.tensor([[[[1.0, 2.0]]]]), torch.tensor([[[[0.0, 0.0]]]])
    assert masked_l1(x, target, torch.tensor([[[[1.0, 0.0]]]])).item() == 0.5  # masked pixels count as 0
    assert masked_l1(x, target).item() == 1.5


# -- coarse to fine: model.init_from, train.fix_global_steps ------------------------------------------------

TINY_MODEL = {"n_frames_G": 3, "ngf": 8, "n_downsample_G": 2, "n_blocks": 2, "n_blocks_local": 1}  # as TINY


def _coarse_run(folder: Path, **settings) -> Path:
    """A run folder whose final/ holds a tiny 1-scale generator (TINY's, unless ``settings`` change it)."""
    torch.manual_seed(1)
    generator = Vid2VidGenerator(**{**TINY_MODEL, "n_scales_spatial": 1, **settings})
    Vid2VidPipeline(generator=generator).save_pretrained(folder / "final")
    return folder


def _finer(data: Path, out: Path, coarse: Path, **extra) -> Vid2VidTrainer:
    options = {"model.n_scales_spatial": 2, "model.init_from": coarse, "data.height": 32, **extra}
    return _trainer(data, out, **options)


def test_init_from_loads_the_coarser_run_and_only_the_finest_scale_trains_while_fixed(data, tmp_path):
    coarse = _coarse_run(tmp_path / "coarse")
    # one frame per update: the later groups composite, so every parameter (the weight head's too) learns
    trainer = _finer(
        data, tmp_path / "run", coarse, **{"train.fix_global_steps": 1, "train.max_frames_per_gpu": 1}
    )
    scales = trainer.unwrapped_generator.scales
    loaded = load_vid2vid_pipeline(coarse / "final").generator.scales[0].state_dict()
    assert loaded.keys() == scales[0].state_dict().keys()
    assert all(torch.equal(v, scales[0].state_dict()[k]) for k, v in loaded.items())  # bitwise
    assert "initialised scale(s) 0-0 from the coarser run" in describe(trainer)
    before = [_state(s) for s in scales]
    trainer.train_step(_batch(trainer, [0, 4]))  # step 0: the fixed phase
    coarse_after, fine_after = _state(scales[0]), _state(scales[1])
    assert all(torch.equal(before[0][k], v) for k, v in coarse_after.items())
    assert all(not torch.equal(before[1][k], v) for k, v in fine_after.items())
    trainer.global_step = 1  # the first step after it: every scale trains, with a fresh Adam
    trainer.train_step(_batch(trainer, [0, 4]))
    unchanged = {k for k, v in scales[0].state_dict().items() if torch.equal(coarse_after[k], v)}
    # all but the coarse scale's own output heads, which only the finest frame's losses could reach and do not
    # (that scale's frames feed its own previous frames, detached), as in the original
    heads = ("model_final_img.1", "model_final_flow.1", "model_final_w.1")
    assert unchanged == {f"{head}.{p}" for head in heads for p in ("weight", "bias")}
    assert all(not torch.equal(fine_after[k], v) for k, v in scales[1].state_dict().items())
    # Adam restarted: only this step's 3 updates (frames 2, 3, 4; 2 for the weight heads, idle in the first,
    # hallucinated one) are counted; the finest scale's count would be 6 (4) without the restart
    adam = trainer.opt_g.optimizer.state
    assert {int(state["step"]) for state in adam.values()} == {2, 3}


@pytest.mark.parametrize("case", ["pose2vid weights", "same scales", "other ngf", "missing"])
def test_init_from_weights_that_do_not_fit_are_one_line(data, tmp_path, case):
    coarse = {
        "pose2vid weights": ROOT / "pretrained_weights" / "pose2vid_demo",
        "same scales": _coarse_run(tmp_path / "two", n_scales_spatial=2) / "final",
        "other ngf": _coarse_run(tmp_path / "wide", ngf=16),
        "missing": tmp_path / "nowhere",
    }[case]
    with pytest.raises(InputError) as err:
        _finer(data, tmp_path / "run", coarse)
    assert (
        str(err.value)
        == {
            "pose2vid weights": f"model.init_from: vid2vid weights folder '{coarse}' holds a Pose2VidPipeline: pass "
            "a folder made by `magicpose convert vid2vid` or by vid2vid training",
            "same scales": f"model.init_from '{coarse}' has n_scales_spatial=2, this run needs 1 (one scale fewer "
            "than model.n_scales_spatial=2): pass the run of the next coarser resolution",
            "other ngf": f"model.init_from '{coarse / 'final'}' has ngf=16, this run needs 8: set model.* to match "
            "the coarser run",
            "missing": f"model.init_from: vid2vid weights folder '{coarse}' does not exist: pass a folder made by "
            "`magicpose convert vid2vid` or by vid2vid training",
        }[case]
    )


# -- runs ---------------------------------------------------------------------------------------------------


def _argv(data: Path, out: Path, resume: bool = False, **extra) -> list[str]:
    """``train_vid2vid.py``'s arguments for a run of 6 steps, a checkpoint every 2."""
    values = {"train.max_steps": 6, "checkpoint.every_steps": 2, "logging.record_samples": "true", **extra}
    return [
        "--config",
        str(TINY),
        *(["--resume", "latest"] if resume else []),
        *_overrides(data, out),
        *[f"{k}={v}" for k, v in values.items()],
    ]


def _run(data: Path, out: Path, nproc: int = 1, env: dict | None = None, resume: bool = False, **extra):
    """``train_vid2vid.py`` in a subprocess (torchrun with gloo for nproc > 1), one thread per process."""
    launcher = [sys.executable] + (
        ["-m", "torch.distributed.run", "--nproc_per_node", str(nproc)] if nproc > 1 else []
    )
    args = [*launcher, str(ROOT / "train_vid2vid.py"), *_argv(data, out, resume, **extra)]
    full_env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=300)


def _networks(run: Path) -> list[dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    folder = run / "checkpoints" / "checkpoint-6"
    return [
        load_file(folder / "generator" / "diffusion_pytorch_model.safetensors"),
        load_file(folder / "discriminator.safetensors"),
        load_file(folder / "temporal_discriminator.safetensors"),
    ]


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "run"
    train_here("train_vid2vid.py", _argv(data, out, **{"train.batch_size": 2}))  # in this process
    return out


def test_a_run_writes_checkpoints_and_a_final_pipeline(straight):
    assert [p.name for p in checkpoints.list_checkpoints(straight)] == ["checkpoint-4", "checkpoint-6"]
    folder = straight / "checkpoints" / "checkpoint-6"
    tensors = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.safetensors"))
    assert tensors == [
        "discriminator.safetensors",
        "generator/diffusion_pytorch_model.safetensors",
        "temporal_discriminator.safetensors",
    ]  # each trained tensor once
    pipe = load_vid2vid_pipeline(straight / "final")
    final = pipe.generator.state_dict()
    assert all(torch.equal(final[k], v) for k, v in _networks(straight)[0].items())
    assert json.loads((folder / "trainer_state.json").read_text())["stage"] == "vid2vid"


def test_two_processes_equal_one_process_with_the_same_global_batch(data, straight, tmp_path):
    two = _run(data, tmp_path / "two", nproc=2, **{"train.batch_size": 1})
    assert two.returncode == 0, two.stderr[-3000:]
    assert "MULTI_CPU" in two.stdout + two.stderr
    for a, b in zip(_networks(straight), _networks(tmp_path / "two"), strict=True):
        assert a.keys() == b.keys()
        # instance norms make every sample independent; the ranks average their gradients as one batch of 2
        assert max((a[k] - b[k]).abs().max().item() for k in a) <= 2e-3


def test_sigkill_then_resume_is_bitwise_equal(data, straight, tmp_path, capsys):
    out = tmp_path / "killed"
    killed = _run(data, out, env={"MAGICPOSE_FAULT": "sigkill-after-step:3"}, **{"train.batch_size": 2})
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]
    train_here(
        "train_vid2vid.py", _argv(data, out, resume=True, **{"train.batch_size": 2})
    )  # in this process
    assert "resumed from" in capsys.readouterr().out
    for a, b in zip(_networks(straight), _networks(out), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_command_refuses_a_bad_config_in_one_line(data, tmp_path, capsys):
    assert (
        cli.main(
            [
                "train-vid2vid",
                "--config",
                str(TINY),
                f"data.root={data}",
                f"output_dir={tmp_path / 'o'}",
                "train.n_frames_total=2",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.startswith(
        "error: train.n_frames_total 2 must be at least model.n_frames_G 3"
    )
    assert not (tmp_path / "o").exists()
