"""Everybody Dance Now pose2vid training: the data, the step, fix_global and init_from, 2 processes =
1 process, exact resume, checkpoints holding each tensor once, the final folder, the loss falling."""

import json
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.state import AcceleratorState
from conftest import inert_biases, make_square_dataset, run_pose2vid_training, train_here
from gan_runs import infer_frames
from PIL import Image
from safetensors.torch import load_file

from magicpose import cli
from magicpose.data.consecutive import ConsecutivePairDataset
from magicpose.errors import InputError
from magicpose.image_utils import center_crop_resize, load_image
from magicpose.models.pix2pixhd import local_enhancer_from_global_state_dict
from magicpose.pose import load_pose_sequence
from magicpose.training import checkpoints
from magicpose.training.pose2vid_config import load_pose2vid_config
from magicpose.training.pose2vid_trainer import (
    DISCRIMINATOR_FILE,
    Pose2VidTrainer,
    build_discriminator,
    build_generator,
)
from magicpose.weights import load_pose2vid_pipeline

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny_pose2vid.yaml"
GLOBAL = {"model.architecture": "global", "model.ngf": 8, "train.fix_global_steps": 0}  # tiny global stage
G_FILE = Path("generator") / "diffusion_pytorch_model.safetensors"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_square_dataset(tmp_path_factory.mktemp("pose2vid") / "data")  # 3 videos x 6 frames: 15 pairs


def _values(data: Path, out: Path, **extra) -> dict:
    return {
        "data.root": data,
        "output_dir": out,
        "validation.every_steps": 0,
        "checkpoint.every_steps": 0,
        **extra,
    }


def _dotlist(values: dict) -> list[str]:
    return [f"{k}={v}" for k, v in values.items()]


def _trainer(data: Path, out: Path, resume: str | None = None, **extra) -> Pose2VidTrainer:
    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one state per process
    return Pose2VidTrainer(load_pose2vid_config(TINY, _dotlist(_values(data, out, **extra))), resume=resume)


def _batch(trainer: Pose2VidTrainer, indices) -> dict:
    items = [trainer.dataset[i] for i in indices]
    return {k: torch.stack([it[k] for it in items]) for k in ("pose_prev", "pose", "frame_prev", "frame")}


def _generator_state(trainer: Pose2VidTrainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.unwrapped_generator.state_dict().items()}


# ------------------------------------------------------------------------------------------------------------
# data


def test_pairs_are_consecutive_frames_of_one_video_centre_cropped_and_unflipped(data, tmp_path):
    ds = ConsecutivePairDataset(data, "train", height=32, width=32)
    assert len(ds) == 15  # 3 videos x (6 - 1): no pair straddles two videos
    for index in range(len(ds)):
        item = ds[index]
        v, t = ds.locate(index)
        video = ds.videos[v]
        assert 1 <= t < 6 and item["video"] == video.name and item["name"] == video.frames[t].name
        for key, frame, kind in (
            ("pose_prev", t - 1, "pose"),
            ("pose", t, "pose"),
            ("frame_prev", t - 1, "image"),
            ("frame", t, "image"),
        ):
            pixels = np.asarray(center_crop_resize(load_image(getattr(video.frames[frame], kind)), 32, 32))
            expected = torch.from_numpy(pixels.copy()).permute(2, 0, 1)
            if kind == "pose":  # raw uint8: the trainer applies the generator's own pose_input
                assert item[key].dtype == torch.uint8 and torch.equal(item[key], expected)
            else:
                assert item[key].dtype == torch.float32
                assert torch.equal(item[key], expected.float() / 127.5 - 1)
        if t > 1:  # the previous pair's current frame is this pair's previous one
            assert torch.equal(ds[index - 1]["frame"], item["frame_prev"])
    assert all(torch.equal(ds[3][k], ds[3][k]) for k in ("pose", "frame"))  # a function of the index only
    # one-frame videos give no pair; a split without any pair is one clear line
    make_square_dataset(tmp_path / "single", videos=2, frames=1)
    with pytest.raises(InputError, match="has two frames"):
        ConsecutivePairDataset(tmp_path / "single", "train", 32, 32)


# ------------------------------------------------------------------------------------------------------------
# the step


@pytest.mark.parametrize("architecture", ["local", "global"])
def test_the_step_chains_two_generator_passes_and_shows_d_twelve_channel_pairs(
    data, tmp_path, vgg_file, architecture
):
    extra = GLOBAL if architecture == "global" else {}
    trainer = _trainer(data, tmp_path, **{"loss.vgg19_path": vgg_file, "loss.vgg_weight": 10.0, **extra})
    generator, discriminator = trainer.unwrapped_generator, trainer.unwrapped_discriminator
    g_calls, d_calls, vgg_calls = [], [], []
    generator.register_forward_hook(lambda m, args, out: g_calls.append((args, out)))
    discriminator.register_forward_hook(lambda m, args, out: d_calls.append(args[0]))
    trainer.vgg.register_forward_hook(lambda m, args, out: vgg_calls.append((*args, out)))
    batch = _batch(trainer, [0, 7])
    pose_prev, pose = generator.pose_input(batch["pose_prev"]), generator.pose_input(batch["pose"])
    losses = trainer.train_step(batch)

    (first_in, y_prev), (second_in, y) = g_calls  # y_prev = G(pose_prev, 0), y = G(pose, y_prev)
    assert torch.equal(first_in[0], pose_prev) and torch.equal(first_in[1], torch.zeros(2, 3, 32, 32))
    assert torch.equal(second_in[0], pose) and second_in[1] is y_prev and y_prev.requires_grad  # not detached
    real, fake, fake_for_d = d_calls  # G's step: real and fake pairs; D's step: the detached fakes
    assert all(x.shape == (2, 12, 32, 32) for x in d_calls)
    assert torch.equal(real, torch.cat([pose_prev, pose, batch["frame_prev"], batch["frame"]], 1))
    assert torch.equal(fake, torch.cat([pose_prev, pose, y_prev, y], 1)) and fake.requires_grad
    assert torch.equal(fake_for_d, fake) and not fake_for_d.requires_grad
    (x0, t0, v0), (x1, t1, v1) = vgg_calls  # VGG(y_prev, frame_prev) + VGG(y, frame), halved for "global"
    assert x0 is y_prev and torch.equal(t0, batch["frame_prev"])
    assert x1 is y and torch.equal(t1, batch["frame"])
    half = 0.5 if architecture == "global" else 1.0
    assert losses["g_vgg"] == pytest.approx(half * (v0 + v1).item(), rel=1e-6)
    assert losses["g_vgg"] > 0
    assert losses["g"] == pytest.approx(losses["g_gan"] + losses["g_feat"] + losses["g_vgg"], rel=1e-6)


def test_l1_term_is_the_weighted_l1_of_both_frames(data, tmp_path):
    # Not in EDN: for training without VGG19 weights (the CPU demo); off by default.
    trainer = _trainer(data, tmp_path, **{"loss.l1_weight": 3.0})
    outputs = []
    trainer.unwrapped_generator.register_forward_hook(lambda m, args, out: outputs.append(out.detach()))
    batch = _batch(trainer, [0, 7])
    losses = trainer.train_step(batch)
    y_prev, y = outputs[:2]
    expected = 3.0 * ((y_prev - batch["frame_prev"]).abs().mean() + (y - batch["frame"]).abs().mean())
    assert losses["g_l1"] == pytest.approx(expected.item(), rel=1e-6) and losses["g_l1"] > 0
    assert losses["g"] == pytest.approx(losses["g_gan"] + losses["g_feat"] + losses["g_l1"], rel=1e-6)
    assert "g_l1" not in _trainer(data, tmp_path / "off").train_step(_batch(trainer, [0, 7]))


def test_vgg_off_needs_no_file_and_on_without_one_is_one_line_before_any_step(data, tmp_path, capsys):
    assert _trainer(data, tmp_path / "off").vgg is None  # the tiny config: loss.vgg_weight 0
    base = ["train-pose2vid", "--config", str(TINY), *_dotlist(_values(data, tmp_path / "x"))]
    for extra, expected in (
        (["loss.vgg_weight=10"], "loss.vgg_weight=10 needs loss.vgg19_path"),
        (["loss.vgg_weight=10", f"loss.vgg19_path={tmp_path / 'nope.pth'}"], "nope.pth"),
    ):
        AcceleratorState._reset_state(reset_partial_state=True)
        assert cli.main([*base, *extra]) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and expected in lines[0] and "loss.vgg_weight=0" in lines[0], err
        assert "vgg19 state dict" in lines[0]
        assert not (tmp_path / "x").exists()  # refused at start-up: nothing trained, nothing written


# ------------------------------------------------------------------------------------------------------------
# fix_global and init_from


def test_init_from_and_fix_global_steps(data, tmp_path):
    global_run = _trainer(data, tmp_path / "global", **{**GLOBAL, "train.max_steps": 2})
    global_run.train()
    trained_global = load_file(tmp_path / "global" / "final" / G_FILE)

    local = _trainer(
        data,
        tmp_path / "local",
        **{
            "model.init_from": tmp_path / "global",
            "train.max_steps": 4,
            "train.fix_global_steps": 2,
            "checkpoint.every_steps": 2,
        },
    )
    start = _generator_state(local)
    unprefixed = {k.removeprefix("net."): v for k, v in trained_global.items()}
    branch = local_enhancer_from_global_state_dict(unprefixed, n_downsample_global=2, n_blocks_global=1)
    global_keys = {k for k in start if k.startswith("net.global_branch.")}
    local_keys = set(start) - global_keys
    assert {f"net.{k}" for k in branch} == global_keys  # every tensor of the branch comes from the global run
    assert all(torch.equal(start[f"net.{k}"], v) for k, v in branch.items())
    assert local_keys and all(k.startswith(("net.local_down.", "net.local_up.")) for k in local_keys)
    local.train()

    fixed = load_file(tmp_path / "local" / "checkpoints" / "checkpoint-2" / G_FILE)  # after the 2 fixed steps
    final = load_file(tmp_path / "local" / "final" / G_FILE)
    assert all(torch.equal(fixed[k], start[k]) for k in global_keys)
    assert [k for k in sorted(local_keys) if torch.equal(fixed[k], start[k])] == []
    assert [k for k in sorted(global_keys) if torch.equal(final[k], fixed[k])] == []  # released after them
    # EDN rebuilds G's Adam when the fixed steps end: every parameter's moments count the last 2 steps only
    steps = {int(s["step"]) for s in local.opt_g.optimizer.state.values()}
    assert len(local.opt_g.optimizer.state) == len(start) and steps == {2}


def test_init_from_refuses_a_mismatched_previous_stage(data, tmp_path):
    _trainer(data, tmp_path / "global", **{**GLOBAL, "train.max_steps": 0}).train()
    with pytest.raises(InputError, match="has ngf=8, this run needs 16"):
        _trainer(data, tmp_path / "local", **{"model.init_from": tmp_path / "global", "model.ngf": 8})
    with pytest.raises(InputError, match="holds no pose2vid generator"):
        _trainer(data, tmp_path / "local", **{"model.init_from": tmp_path})


def test_bf16_mixed_precision_trains_with_clipping(data, tmp_path):
    fp32 = _trainer(data, tmp_path / "fp32", **{"train.max_steps": 2})
    start = _generator_state(fp32)
    fp32.train()
    bf16 = _trainer(
        data,
        tmp_path / "bf16",
        **{"train.max_steps": 2, "train.mixed_precision": "bf16", "train.max_grad_norm": 0.01},
    )
    assert all(torch.equal(v, start[k]) for k, v in _generator_state(bf16).items())  # same seed, same init
    bf16.train()
    trained, reference = _generator_state(bf16), _generator_state(fp32)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in trained.values())  # fp32 weights
    changed = [k for k in trained if not torch.equal(trained[k], start[k])]
    assert changed and all(k.startswith("net.local_") for k in changed)  # the global branch is still fixed
    assert any(not torch.equal(trained[k], reference[k]) for k in changed)  # computed in bf16, clipped


def test_fp16_is_refused_in_one_line(data, tmp_path):
    # accelerate's single loss scaler cannot serve the GAN step's two optimizers; bf16 needs none.
    with pytest.raises(InputError, match="fp16 is not supported for pose2vid training.*use bf16") as err:
        load_pose2vid_config(TINY, [*_dotlist(_values(data, tmp_path)), "train.mixed_precision=fp16"])
    assert "\n" not in str(err.value)


def test_schedule(data, tmp_path):
    trainer = _trainer(data, tmp_path, **{"train.max_steps": 10, "train.decay_steps": 4})
    assert [trainer.learning_rate(s) for s in (0, 6, 7, 9)] == pytest.approx([2e-4, 2e-4, 1.5e-4, 0.5e-4])
    with pytest.raises(InputError, match="needs model.architecture=local"):
        load_pose2vid_config(TINY, _dotlist(_values(data, tmp_path, **{"model.architecture": "global"})))
    with pytest.raises(InputError, match="multiples of 8"):
        load_pose2vid_config(TINY, _dotlist(_values(data, tmp_path, **{"data.height": 36})))


# ------------------------------------------------------------------------------------------------------------
# the loss falls; the final folder is an inference folder


def test_loss_falls_on_a_tiny_set_and_final_folder_runs_in_magicpose_infer(data, tmp_path):
    trainer = _trainer(data, tmp_path / "fit", **{**GLOBAL, "train.max_steps": 40, "train.batch_size": 5})
    everything = _batch(trainer, range(len(trainer.dataset)))

    @torch.no_grad()
    def l1() -> float:  # mean |G - real| over both frames of every pair, as the step generates them
        pose_prev, pose, frame_prev, frame = trainer._inputs(everything)
        y_prev = trainer.unwrapped_generator(pose_prev, torch.zeros_like(frame_prev))
        y = trainer.unwrapped_generator(pose, y_prev)
        return 0.5 * ((y_prev - frame_prev).abs().mean() + (y - frame).abs().mean()).item()

    history, train_step = [], trainer.train_step

    def recorded_step(batch: dict) -> dict:  # the loss terms of every step
        history.append(train_step(batch))
        return history[-1]

    trainer.train_step = recorded_step
    before = l1()
    trainer.train()
    after = l1()
    first, last = (
        {k: np.mean([h[k] for h in part]) for k in ("g", "d")} for part in (history[:5], history[-5:])
    )
    # measured: L1 0.543 -> 0.327; G 10.2 -> 3.4, D 1.14 -> 0.51 (means of the first and last 5 steps)
    print(
        f"L1 {before:.3f} -> {after:.3f}; G {first['g']:.2f} -> {last['g']:.2f}; "
        f"D {first['d']:.3f} -> {last['d']:.3f}"
    )
    assert after < 0.7 * before, (before, after)
    assert last["g"] < 0.5 * first["g"] and last["d"] < 0.7 * first["d"], (first, last)

    final = tmp_path / "fit" / "final"
    pipe = load_pose2vid_pipeline(final)
    assert pipe.face_enhancer is None and pipe.generator.config.architecture == "global"
    size = (trainer.cfg.data.height, trainer.cfg.data.width)
    assert pipe.generator.default_size == size  # the training size: infer's default
    trained = trainer.unwrapped_generator.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in pipe.generator.state_dict().items())
    assert not list(tmp_path.glob("fit/.final*"))  # written under a temporary name, then renamed
    out = tmp_path / "infer" / "dance.mp4"
    poses = ROOT / "example_data" / "poses"
    written = infer_frames(out, generator="pose2vid", weights=final, poses=poses)
    expected = list(pipe.iter_frames(load_pose_sequence(poses), *size))
    assert len(written) == len(expected) == 16 and written[0].shape == (*size, 3)
    assert all(np.array_equal(a, b) for a, b in zip(written, expected, strict=True))


def test_validation_preview_is_pose_generated_real(data, tmp_path):
    trainer = _trainer(data, tmp_path, **{"validation.every_steps": 1, "validation.num_frames": 2})
    path = trainer.validate()
    grid = np.asarray(Image.open(path).convert("RGB"))
    assert path.name == "step-000000.png" and grid.shape == (32 + 4 + 32, 3 * 32 + 2 * 4, 3)
    video = trainer.dataset.videos[0]
    real = np.asarray(center_crop_resize(load_image(video.frames[1].image), 32, 32))
    pose = np.asarray(center_crop_resize(load_image(video.frames[1].pose), 32, 32))
    poses = [np.asarray(load_image(f.pose)) for f in video.frames[:2]]
    generated = list(trainer.pipeline().iter_frames(poses, 32, 32))
    row = grid[36:]
    assert np.array_equal(row[:, :32], pose) and np.array_equal(row[:, 36:68], generated[1])
    assert np.array_equal(row[:, 72:], real)


# ------------------------------------------------------------------------------------------------------------
# processes, interruptions, checkpoints: killed runs and torchrun ranks in subprocesses, as a user runs them; the
# straight run and the last resume in this process (train_here)


def _settings(data: Path, out: Path, **extra) -> list[str]:
    values = {
        "train.max_steps": 6,
        "train.batch_size": 4,
        "train.decay_steps": 3,
        "train.fix_global_steps": 2,
        "checkpoint.every_steps": 2,
        "checkpoint.keep_last": 3,
        "logging.record_samples": True,
        **extra,
    }
    return _dotlist(_values(data, out, **values))


def _run(data: Path, out: Path, nproc: int = 1, env: dict | None = None, resume: bool = False, **extra):
    return run_pose2vid_training(TINY, _settings(data, out, **extra), nproc=nproc, env=env, resume=resume)


def _run_here(data: Path, out: Path, resume: bool = False) -> None:
    """``_run``'s run in this process."""
    train_here(
        "train_pose2vid.py",
        ["--config", str(TINY), *(["--resume", "latest"] * resume), *_settings(data, out)],
    )


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory) -> Path:
    """An uninterrupted 1-process run: 6 steps of 4 pairs (2 epochs of 3 batches), lr decay over the last 3,
    the global branch fixed for the first 2, checkpoints every 2 steps."""
    out = tmp_path_factory.mktemp("straight") / "out"
    _run_here(data, out)
    return out


def _networks(out: Path) -> tuple[dict, dict]:
    last = out / "checkpoints" / "checkpoint-6"
    return load_file(out / "final" / G_FILE), load_file(last / DISCRIMINATOR_FILE)


@torch.no_grad()
def _outputs(out: Path, batch: dict) -> list[torch.Tensor]:
    """The frames G generates for ``batch`` and D's logits on its real pairs, with a run's final weights."""
    generator = load_pose2vid_pipeline(out / "final").generator
    discriminator = build_discriminator(load_pose2vid_config(out / "config.yaml"))
    discriminator.load_state_dict(_networks(out)[1])
    pose_prev, pose = generator.pose_input(batch["pose_prev"]), generator.pose_input(batch["pose"])
    y_prev = generator(pose_prev, torch.zeros_like(batch["frame_prev"]))
    pair = torch.cat([pose_prev, pose, batch["frame_prev"], batch["frame"]], 1)
    return [y_prev, generator(pose, y_prev), *(scale[-1] for scale in discriminator(pair))]


def test_two_processes_equal_one_process_with_the_same_global_batch(data, straight, tmp_path):
    two = _run(data, tmp_path / "two", nproc=2, **{"train.batch_size": 2})
    assert two.returncode == 0, two.stderr[-3000:]
    assert "MULTI_CPU" in two.stdout + two.stderr  # the ranks really synchronised (gloo)
    cfg = load_pose2vid_config(straight / "config.yaml")
    inert = (inert_biases(build_generator(cfg)), inert_biases(build_discriminator(cfg)))
    assert len(inert[0]) == 12 and len(inert[1]) == 4
    for a, b, skip in zip(_networks(straight), _networks(tmp_path / "two"), inert, strict=True):
        assert a.keys() == b.keys() and skip < a.keys()
        # Measured: < 1e-7 on an Intel CPU, 5.3e-6 on an AMD EPYC, whose kernels round differently; the wandering
        # inert biases (below) shift the rounding of what follows them, and Adam amplifies that on weights whose
        # gradient is near 0. A rank that did not synchronise would be off by the learning rate (2e-4) per step.
        assert max((a[k] - b[k]).abs().max().item() for k in a if k not in skip) <= 2e-5
    # the inert biases did wander apart (up to 1e-3), yet both runs compute the same frames and logits
    dataset = ConsecutivePairDataset(data, "train", 32, 32)
    items = [dataset[i] for i in range(len(dataset))]
    batch = {k: torch.stack([it[k] for it in items]) for k in ("pose_prev", "pose", "frame_prev", "frame")}
    for a, b in zip(_outputs(straight, batch), _outputs(tmp_path / "two", batch), strict=True):
        # measured on frames in [-1, 1]: 2.3e-6 on the Intel CPU, 4.7e-4 (0.06 of a uint8 level) on the AMD EPYC, from
        # the other weights' 5e-6 (moving the inert biases by 1e-3 moves the frames by 1e-6 only)
        assert (a - b).abs().max().item() <= 2e-3
    seen = {r: json.loads((tmp_path / "two" / "seen_samples" / f"rank-{r}.json").read_text()) for r in (0, 1)}
    single = json.loads((straight / "seen_samples" / "rank-0.json").read_text())
    assert len(seen[0]) == len(seen[1]) == 12 and len(single) == 24
    for step in range(6):  # per step the ranks see disjoint halves of the 1-process run's batch
        s0, s1 = set(seen[0][2 * step : 2 * step + 2]), set(seen[1][2 * step : 2 * step + 2])
        assert not s0 & s1 and s0 | s1 == set(single[4 * step : 4 * step + 4])


def test_sigkill_between_and_inside_checkpoints_then_resume_is_bitwise_equal(
    data, straight, tmp_path, capsys
):
    out = tmp_path / "killed"
    killed = _run(data, out, env={"MAGICPOSE_FAULT": "sigkill-after-step:3"})
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]
    # resumed at step 2, killed again while writing checkpoint 4: checkpoint 2 stays complete and loadable
    crashed = _run(data, out, resume=True, env={"MAGICPOSE_FAULT": "sigkill-in-checkpoint:4"})
    assert crashed.returncode == -signal.SIGKILL and "resumed from" in crashed.stdout + crashed.stderr
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]
    assert (checkpoints.checkpoint_root(out) / ".checkpoint-4.tmp").is_dir()  # the half-written one
    previous = checkpoints.resolve_resume(out, "latest")
    assert previous.name == "checkpoint-2" and checkpoints.read_step(previous) == 2
    load_pose2vid_pipeline(previous)  # the checkpoint is an inference folder too
    resumed_d = _trainer(data, tmp_path / "probe", resume=str(previous), **{"train.max_steps": 6})
    assert resumed_d.global_step == 2
    stored_d = load_file(previous / DISCRIMINATOR_FILE)
    assert all(torch.equal(v, resumed_d.unwrapped_discriminator.state_dict()[k]) for k, v in stored_d.items())

    capsys.readouterr()
    _run_here(data, out, resume=True)
    assert "resumed from" in capsys.readouterr().out
    assert not (checkpoints.checkpoint_root(out) / ".checkpoint-4.tmp").exists()
    for a, b in zip(_networks(straight), _networks(out), strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_holds_each_trained_tensor_once(straight):
    folder = straight / "checkpoints" / "checkpoint-6"
    assert sorted(p.name for p in checkpoints.list_checkpoints(straight)) == [
        "checkpoint-2",
        "checkpoint-4",
        "checkpoint-6",
    ]
    tensor_files = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.suffix in (".safetensors", ".bin", ".pt", ".pth")
    )
    assert tensor_files == [DISCRIMINATOR_FILE, str(G_FILE), "optimizer.bin", "optimizer_1.bin"]
    pipe = load_pose2vid_pipeline(folder)
    generator = load_file(folder / G_FILE)
    assert generator.keys() == pipe.generator.state_dict().keys()
    discriminator = load_file(folder / DISCRIMINATOR_FILE)
    assert discriminator and all(k.startswith("scales.") for k in discriminator)  # no DDP prefix
    for name, params in (("optimizer.bin", generator), ("optimizer_1.bin", discriminator)):
        state = torch.load(folder / name, weights_only=True)["state"]  # Adam's moments only, no weights
        assert len(state) == len(params)
        assert all(set(s) == {"step", "exp_avg", "exp_avg_sq"} for s in state.values())
    info = json.loads((folder / checkpoints.STATE_FILE).read_text())
    assert info == {"step": 6, "stage": "pose2vid_local"}
