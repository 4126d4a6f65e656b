"""Everybody Dance Now face-enhancer stage (``stage: face``): the keypoints in the data, the head crops, the
step on a spy, frames without a head, the frozen body, 2 processes = 1 process, SIGKILL + resume, the
checkpoint, the final folder in ``magicpose infer``, and the one-line refusals."""

import filecmp
import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.state import AcceleratorState
from conftest import inert_biases, make_square_dataset, run_pose2vid_training
from gan_runs import infer_frames, size_flags
from safetensors.torch import load_file

from magicpose import cli
from magicpose.data.consecutive import ConsecutivePairDataset
from magicpose.errors import InputError
from magicpose.models.face_enhancer import body_in_output, crop, face_box, face_box_size
from magicpose.models.losses import lsgan_loss
from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
from magicpose.pose import load_pose_sequence
from magicpose.synthetic import make_synthetic
from magicpose.training import checkpoints, face_trainer
from magicpose.training.face_trainer import FACE_DISCRIMINATOR_FILE, FaceStageTrainer
from magicpose.training.pose2vid_config import load_pose2vid_config
from magicpose.training.pose2vid_trainer import Pose2VidTrainer
from magicpose.weights import load_pose2vid_pipeline

ROOT = Path(__file__).resolve().parents[1]
BODY_CONFIG = ROOT / "configs" / "tiny_pose2vid.yaml"
FACE_CONFIG = ROOT / "configs" / "tiny_pose2vid_face.yaml"
FACE_G = Path("face_enhancer") / "diffusion_pytorch_model.safetensors"
HEADLESS = ("vid_0001", "0003")  # nobody found in this frame: pair 7's current frame, pair 8's previous one
# 6 steps of 4 pairs (15 pairs: 3 batches an epoch), lr decay over the last 3, checkpoints every 2
RUN = {
    "train.max_steps": 6,
    "train.batch_size": 4,
    "train.decay_steps": 3,
    "checkpoint.every_steps": 2,
    "checkpoint.keep_last": 3,
    "logging.record_samples": True,
}
TENSORS = ("pose_prev", "pose", "frame_prev", "frame", "keypoints_prev", "keypoints")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """3 synthetic dancers x 6 frames at 32x32 with their OpenPose JSON; one frame without anybody in it."""
    root = make_synthetic(
        tmp_path_factory.mktemp("face") / "data",
        num_train_videos=3,
        num_test_videos=0,
        frames_per_video=6,
        size=32,
        progress=False,
    )
    headless = root / "openpose_json_train_set" / HEADLESS[0] / f"{HEADLESS[1]}_keypoints.json"
    content = json.loads(headless.read_text())
    headless.write_text(json.dumps({**content, "people": []}))
    return root


@pytest.fixture(scope="module")
def body(data, tmp_path_factory) -> Path:
    """A tiny local body stage, 2 steps (the face stage's model.init_from)."""
    out = tmp_path_factory.mktemp("body") / "run"
    values = {
        "data.root": data,
        "output_dir": out,
        "train.max_steps": 2,
        "train.fix_global_steps": 0,
        "validation.every_steps": 0,
        "checkpoint.every_steps": 0,
    }
    AcceleratorState._reset_state(reset_partial_state=True)
    Pose2VidTrainer(load_pose2vid_config(BODY_CONFIG, _dotlist(values))).train()
    return out


def _dotlist(values: dict) -> list[str]:
    return [f"{k}={v}" for k, v in values.items()]


def _values(data: Path, body: Path, out: Path, **extra) -> dict:
    return {
        "data.root": data,
        "model.init_from": body,
        "output_dir": out,
        "validation.every_steps": 0,
        "checkpoint.every_steps": 0,
        **extra,
    }


def _face(data: Path, body: Path, out: Path, resume: str | None = None, **extra) -> FaceStageTrainer:
    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one state per process
    cfg = load_pose2vid_config(FACE_CONFIG, _dotlist(_values(data, body, out, **extra)))
    return FaceStageTrainer(cfg, resume=resume)


def _batch(trainer: FaceStageTrainer, indices) -> dict:
    items = [trainer.dataset[i] for i in indices]
    return {k: torch.stack([it[k] for it in items]) for k in TENSORS}


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------------------------
# data and crops


def test_pairs_carry_each_frames_keypoints_mapped_into_the_training_frame(data, tmp_path):
    # 48x24 from 32x32 frames: the centre crop keeps rows 8..23, then everything scales by 1.5
    ds = ConsecutivePairDataset(data, "train", height=24, width=48, keypoints=True)
    for index in (0, 7, 8, 14):
        item = ds[index]
        v, t = ds.locate(index)
        video = ds.videos[v]
        for key, frame in (("keypoints_prev", video.frames[t - 1]), ("keypoints", video.frames[t])):
            raw = json.loads(
                (data / "openpose_json_train_set" / video.name / f"{frame.name}_keypoints.json").read_text()
            )
            expected = np.zeros((18, 3), np.float32)
            if raw["people"]:
                points = np.asarray(raw["people"][0]["pose_keypoints_2d"], np.float32).reshape(-1, 3)[:18]
                expected = points * np.float32([1.5, 1.5, 1]) - np.float32([0, 12, 0])  # (y - 8) * 1.5
            assert item[key].dtype == torch.float32 and item[key].shape == (18, 3)
            assert np.allclose(item[key].numpy(), expected, atol=1e-5), (index, key)
            assert item[key].abs().sum() > 0 if raw["people"] else (video.name, frame.name) == HEADLESS
    assert "keypoints" not in ConsecutivePairDataset(data, "train", 32, 32)[0]  # only when asked

    # no keypoint folder: one line naming it and how to get it; a missing file: one line naming it
    bare = make_square_dataset(tmp_path / "bare", videos=1, frames=3)
    with pytest.raises(InputError, match="add-video") as err:
        ConsecutivePairDataset(bare, "train", 32, 32, keypoints=True)
    assert str(bare / "openpose_json_train_set" / "vid0") in str(err.value) and "\n" not in str(err.value)
    (bare / "openpose_json_train_set" / "vid0").mkdir(parents=True)
    with pytest.raises(InputError, match="0000_keypoints.json' does not exist"):
        ConsecutivePairDataset(bare, "train", 32, 32, keypoints=True)


def test_head_crops_stay_inside_the_frame_and_have_one_size(data, body, tmp_path):
    assert face_box_size(1024, 512, 0.25, 8) == 128  # EDN's 128 px crops in 1024x512 frames
    trainer = _face(data, body, tmp_path)
    assert trainer.crop_size == 16  # 32 x 0.5, a multiple of the tiny face G's 4
    everything = _batch(trainer, range(len(trainer.dataset)))
    boxes = [trainer.head_boxes(everything[key]) for key in ("keypoints_prev", "keypoints")]
    missing = [(t, i) for t in (0, 1) for i, box in enumerate(boxes[t]) if box is None]
    assert missing == [(0, 8), (1, 7)]  # only the frame without anybody
    found = [box for row in boxes for box in row if box is not None]
    assert len(found) == 28 and {box.size for box in found} == {16}
    assert all(0 <= box.left <= 32 - 16 and 0 <= box.top <= 32 - 16 for box in found)
    # heads at the borders and beyond are moved inside; the ears stand in for a missing nose
    probes = np.zeros((5, 18, 3), np.float32)
    probes[0, 0] = (1, 1, 1)
    probes[1, 0] = (31, 31, 1)
    probes[2, 0] = (-5, 40, 1)
    probes[3, 16:18] = ((10, 12, 1), (14, 12, 1))  # right and left ear, no nose
    boxes = trainer.head_boxes(torch.from_numpy(probes))
    assert [(b.left, b.top, b.size) for b in boxes[:4]] == [(0, 0, 16), (16, 16, 16), (0, 16, 16), (4, 4, 16)]
    assert boxes[4] is None

    crops = trainer.face_crops(everything)
    assert all(crops[k].shape == (28, 3, 16, 16) for k in ("pose", "generated", "real"))


# ------------------------------------------------------------------------------------------------------------
# the step


def test_the_face_step_on_a_spy(data, body, tmp_path, vgg_file):
    trainer = _face(data, body, tmp_path, **{"loss.vgg_weight": 10.0, "loss.vgg19_path": vgg_file})
    body_before = _state(trainer.body)
    body_calls, g_calls, d_calls, vgg_calls = [], [], [], []
    trainer.body.register_forward_hook(lambda m, args, out: body_calls.append((args, out)))
    trainer.generator.net.register_forward_hook(lambda m, args, out: g_calls.append((args[0], out)))
    trainer.discriminator.register_forward_hook(lambda m, args, out: d_calls.append((args[0], out[-1])))
    trainer.vgg.register_forward_hook(lambda m, args, out: vgg_calls.append((*args, out)))
    batch = _batch(trainer, [7, 2])  # pair 7's current frame has no head: 3 frames with a head
    losses = trainer.train_step(batch)

    # the frozen body's recursion, without gradient: y_prev = G(pose_prev, 0), y = G(pose, y_prev)
    pose_prev, pose = trainer.body.pose_input(batch["pose_prev"]), trainer.body.pose_input(batch["pose"])
    (first_in, y_prev), (second_in, y) = body_calls
    assert torch.equal(first_in[0], pose_prev) and torch.equal(first_in[1], torch.zeros(2, 3, 32, 32))
    assert torch.equal(second_in[0], pose) and second_in[1] is y_prev and not y.requires_grad
    assert _equal(_state(trainer.body), body_before) and not trainer.body.training
    assert all(p.grad is None and not p.requires_grad for p in trainer.body.parameters())

    # the crops, by hand: previous frames first, each frame's own box
    frames = [
        (pose_prev, y_prev, batch["frame_prev"], batch["keypoints_prev"]),
        (pose, y, batch["frame"], batch["keypoints"]),
    ]
    expected = {"pose": [], "generated": [], "real": []}
    for x, generated, real, keypoints in frames:
        for i in range(2):
            box = face_box(keypoints[i].numpy(), 32, 32, 0.5, 4)
            if box is not None:
                for name, images in (("pose", x), ("generated", generated), ("real", real)):
                    expected[name].append(crop(images[i], box))
    pose_crops, generated, real = (torch.stack(expected[k]) for k in ("pose", "generated", "real"))
    assert len(real) == 3 and losses["faces"] == 3
    # the face G sees cat(pose crop, generated crop) and adds its residual to the generated crop
    ((g_in, residual),) = g_calls
    assert g_in.shape == (3, 6, 16, 16) and torch.equal(g_in, torch.cat([pose_crops, generated], 1))
    fake = generated + residual
    # D sees 6-channel (pose crop, face crop) pairs, one crop per call: G's step judges the fakes; D's step
    # the detached fakes, then the real crops
    assert len(d_calls) == 3 + 6 and all(x.shape == (1, 6, 16, 16) for x, _ in d_calls)
    for i in range(3):
        g_fake, d_fake, d_real = d_calls[i], d_calls[3 + 2 * i], d_calls[4 + 2 * i]
        assert torch.equal(g_fake[0], torch.cat([pose_crops[i : i + 1], fake[i : i + 1]], 1))
        assert g_fake[0].requires_grad
        assert torch.equal(d_fake[0], g_fake[0]) and not d_fake[0].requires_grad
        assert torch.equal(d_real[0], torch.cat([pose_crops[i : i + 1], real[i : i + 1]], 1))
    # the losses: means over the 3 frames with a head
    ((vgg_fake, vgg_real, vgg_value),) = vgg_calls
    assert torch.allclose(vgg_fake, fake) and torch.equal(vgg_real, real)
    g_gan = sum(lsgan_loss([logits], True) for _, logits in d_calls[:3]) / 3
    d = (
        sum(
            0.5 * (lsgan_loss([d_calls[4 + 2 * i][1]], True) + lsgan_loss([d_calls[3 + 2 * i][1]], False))
            for i in range(3)
        )
        / 3
    )
    assert losses["g_gan"] == pytest.approx(g_gan.item(), rel=1e-6)
    assert losses["g_vgg"] == pytest.approx(vgg_value.item(), rel=1e-6) and losses["g_vgg"] > 0
    assert losses["d"] == pytest.approx(d.item(), rel=1e-6)
    assert losses["g"] == pytest.approx(losses["g_gan"] + losses["g_vgg"], rel=1e-6)


def test_the_face_l1_term_is_the_mean_over_crops_with_a_head(data, body, tmp_path):
    # Not in EDN: the demo's stand-in for the VGG term (loss.l1_weight).
    trainer = _face(data, body, tmp_path, **{"loss.l1_weight": 5.0})
    outputs = []
    trainer.generator.register_forward_hook(lambda m, args, out: outputs.append((out.detach(), args[0])))
    batch = _batch(trainer, [7, 2])  # 3 frames with a head
    crops = trainer.face_crops(batch)
    losses = trainer.train_step(batch)
    ((fake, generated),) = outputs
    assert torch.equal(generated, crops["generated"])
    assert losses["g_l1"] == pytest.approx(5.0 * (fake - crops["real"]).abs().mean().item(), rel=1e-6)
    assert losses["g"] == pytest.approx(losses["g_gan"] + losses["g_l1"], rel=1e-6)


def _gradients(trainer: FaceStageTrainer, batch: dict) -> tuple[int, dict, dict]:
    """(frames with a head, face G's gradient of its loss, face D's gradient of its loss) for ``batch``."""
    crops = trainer.face_crops(batch)
    heads = len(crops["real"])
    trainer.generator.zero_grad(set_to_none=True)
    terms, fake = trainer.face_generator_losses(crops, heads)
    sum(terms.values()).backward()
    g = {n: p.grad.clone() for n, p in trainer.generator.named_parameters()}
    trainer.discriminator.zero_grad(set_to_none=True)
    trainer.face_discriminator_loss(crops, fake, heads).backward()
    return heads, g, {n: p.grad.clone() for n, p in trainer.discriminator.named_parameters()}


def test_frames_without_a_head_do_not_contribute(data, body, tmp_path):
    trainer = _face(data, body, tmp_path)
    with_gap = _batch(trainer, [7, 2])  # 4 frames, pair 7's current one without a head
    other = _batch(trainer, [12, 2])
    changed = {**with_gap, "frame": other["frame"], "pose": other["pose"]}  # another image, still no head
    heads, g, d = _gradients(trainer, with_gap)
    assert heads == 3
    _, g_changed, d_changed = _gradients(trainer, changed)
    assert _equal(g, g_changed) and _equal(d, d_changed)  # bitwise: that frame is not even looked at
    # the loss is the mean over the frames with a head: 3 x gradient = 1 x (pair 7 alone) + 2 x (pair 2 alone)
    alone = [_gradients(trainer, _batch(trainer, [i])) for i in (7, 2)]
    assert [n for n, _, _ in alone] == [1, 2]
    for index, total in ((1, g), (2, d)):
        summed = {k: sum(part[0] * part[index][k] for part in alone) for k in total}
        scale = max(v.abs().max().item() for v in total.values())
        worst = max((3 * total[k] - summed[k]).abs().max().item() for k in total)
        assert worst <= 1e-5 * scale, (worst, scale)

    # a step without any head: nothing changes, no optimizer state
    nobody = {**with_gap, "keypoints_prev": torch.zeros(2, 18, 3), "keypoints": torch.zeros(2, 18, 3)}
    before = (_state(trainer.generator), _state(trainer.discriminator))
    assert trainer.train_step(nobody) == {"g": 0.0, "g_gan": 0.0, "d": 0.0, "faces": 0}
    assert _equal(_state(trainer.generator), before[0]) and _equal(_state(trainer.discriminator), before[1])
    assert not trainer.opt_g.optimizer.state and not trainer.opt_d.optimizer.state
    trainer.train_step(with_gap)
    assert {int(s["step"]) for s in trainer.opt_g.optimizer.state.values()} == {1}


def test_a_run_without_any_head_still_counts_its_steps(data, body, tmp_path):
    faceless = tmp_path / "data"
    shutil.copytree(data, faceless)
    for path in (faceless / "openpose_json_train_set").rglob("*.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "people": []}))
    trainer = _face(faceless, body, tmp_path / "out", **{"train.max_steps": 3, "checkpoint.every_steps": 3})
    start = _state(trainer.generator)
    trainer.train()
    assert trainer.global_step == 3
    assert [p.name for p in checkpoints.list_checkpoints(tmp_path / "out")] == ["checkpoint-3"]
    assert _equal(load_file(tmp_path / "out" / "final" / FACE_G), start)  # the face G never moved


def test_the_lotayou_variant_trains_on_the_crop_alone(data, body, tmp_path):
    trainer = _face(data, body, tmp_path, **{"model.variant": "lotayou"})
    assert trainer.unwrapped_generator.config.n_downsampling == 2 and trainer.crop_size == 16
    g_inputs, d_inputs = [], []
    trainer.generator.net.register_forward_hook(lambda m, args, out: g_inputs.append(args[0]))
    trainer.discriminator.register_forward_hook(lambda m, args, out: d_inputs.append(args[0]))
    before = _state(trainer.generator)
    losses = trainer.train_step(_batch(trainer, [0, 1]))
    assert losses["faces"] == 4 and g_inputs[0].shape == (4, 3, 16, 16)
    assert {x.shape for x in d_inputs} == {(1, 3, 16, 16)}
    assert not _equal(_state(trainer.generator), before)


# ------------------------------------------------------------------------------------------------------------
# runs: the straight one in this process, the others as a user runs them


@pytest.fixture(scope="module")
def straight(data, body, tmp_path_factory) -> FaceStageTrainer:
    trainer = _face(data, body, tmp_path_factory.mktemp("straight") / "out", **RUN)
    trainer.train()
    return trainer


def _run(data: Path, body: Path, out: Path, nproc: int = 1, env: dict | None = None, **extra):
    return run_pose2vid_training(
        FACE_CONFIG, _dotlist(_values(data, body, out, **{**RUN, **extra})), nproc=nproc, env=env
    )


def _networks(out: Path) -> tuple[dict, dict]:
    last = out / "checkpoints" / "checkpoint-6"
    return load_file(out / "final" / FACE_G), load_file(last / FACE_DISCRIMINATOR_FILE)


def test_two_processes_equal_one_process(data, body, straight, tmp_path):
    two = _run(data, body, tmp_path / "two", nproc=2, **{"train.batch_size": 2})
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 process(es)" in two.stdout + two.stderr
    cfg = straight.cfg
    face, discriminator = face_trainer.build_face_enhancer(cfg), face_trainer.build_face_discriminator(cfg)
    inert = (inert_biases(face), inert_biases(discriminator))
    assert len(inert[0]) == 7 and inert[1] == {"layers.1.0.bias", "layers.2.0.bias"}
    buffers = {k for k, _ in discriminator.named_buffers()}  # BatchNorm's running statistics: unused here
    differences = []
    for a, b, skip in zip(_networks(straight.output_dir), _networks(tmp_path / "two"), inert, strict=True):
        compared = a.keys() - skip - buffers
        assert a.keys() == b.keys() and len(compared) >= 8
        differences.append(max((a[k] - b[k]).abs().max().item() for k in compared))
    print(f"2 processes vs 1: face G {differences[0]:.1e}, face D {differences[1]:.1e}")
    assert max(differences) <= 1e-6  # measured: about 1e-8
    # the inert biases wandered apart, yet both runs enhance every crop and judge it alike
    crops = straight.face_crops(_batch(straight, range(len(straight.dataset))))
    outputs = []
    for out in (straight.output_dir, tmp_path / "two"):
        face = FaceEnhancer.from_pretrained(out / "final" / "face_enhancer")
        discriminator.load_state_dict(_networks(out)[1])
        with torch.no_grad():
            enhanced = face(crops["generated"], crops["pose"])
            pairs = torch.cat([crops["pose"], crops["real"]], 1)
            logits = torch.cat([discriminator(pairs[i : i + 1])[-1] for i in range(len(pairs))])
        outputs.append((enhanced, logits))
    for a, b in zip(*outputs, strict=True):
        assert (a - b).abs().max().item() <= 1e-5
    seen = [json.loads((tmp_path / "two" / "seen_samples" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((straight.output_dir / "seen_samples" / "rank-0.json").read_text())
    for step in range(6):  # per step the ranks see disjoint halves of the 1-process run's batch
        s0, s1 = set(seen[0][2 * step : 2 * step + 2]), set(seen[1][2 * step : 2 * step + 2])
        assert not s0 & s1 and s0 | s1 == set(single[4 * step : 4 * step + 4])


def test_sigkill_then_resume_is_bitwise_equal(data, body, straight, tmp_path):
    out = tmp_path / "killed"
    killed = _run(data, body, out, env={"MAGICPOSE_FAULT": "sigkill-after-step:3"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert "16x16 head crops" in killed.stdout + killed.stderr  # the start-up description
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]
    previous = out / "checkpoints" / "checkpoint-2"
    pipe = load_pose2vid_pipeline(previous)  # a face checkpoint loads with the body it names
    assert _equal(pipe.face_enhancer.state_dict(), load_file(previous / FACE_G))
    assert _equal(pipe.generator.state_dict(), _state(straight.body))

    resumed = _face(data, body, out, resume="latest", **RUN)
    assert resumed.global_step == 2
    resumed.train()
    for a, b in zip(_networks(straight.output_dir), _networks(out), strict=True):
        assert _equal(a, b)  # every tensor, BatchNorm's running statistics included

    other = tmp_path / "other_body"  # resuming on another body is refused
    generator = Pose2VidGenerator.from_pretrained(body / "final" / "generator")
    with torch.no_grad():
        next(generator.parameters()).add_(1e-3)
    generator.save_pretrained(other)
    with pytest.raises(InputError, match="another body generator"):
        _face(data, other, tmp_path / "x", resume=str(previous), **RUN)


def test_a_face_checkpoint_holds_each_trained_tensor_once(body, straight):
    folder = straight.output_dir / "checkpoints" / "checkpoint-6"
    tensor_files = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.suffix in (".safetensors", ".bin", ".pt", ".pth")
    )
    assert tensor_files == [FACE_DISCRIMINATOR_FILE, str(FACE_G), "optimizer.bin", "optimizer_1.bin"]
    face, discriminator = load_file(folder / FACE_G), load_file(folder / FACE_DISCRIMINATOR_FILE)
    assert _equal(face, _state(straight.generator))
    for name, module in (("optimizer.bin", straight.generator), ("optimizer_1.bin", straight.discriminator)):
        state = torch.load(folder / name, weights_only=True)["state"]  # Adam's moments only, no weights
        assert len(state) == len(list(module.parameters()))
        assert all(set(s) == {"step", "exp_avg", "exp_avg_sq"} for s in state.values())
    body_folder = body / "final" / "generator"
    assert checkpoints.read_state(folder) == {
        "step": 6,
        "stage": "pose2vid_face",
        "body_generator": str(body_folder.resolve()),
        "body_fingerprint": face_trainer.fingerprint(straight.body),
    }
    assert "layers.1.1.running_mean" in discriminator  # BatchNorm's statistics are stored, for exact resume


def test_the_body_stays_bitwise_and_the_final_folder_runs_in_magicpose_infer(data, body, straight, tmp_path):
    source, final = body / "final" / "generator", straight.output_dir / "final"
    assert sorted(p.name for p in (final / "generator").iterdir()) == sorted(p.name for p in source.iterdir())
    assert all(filecmp.cmp(p, final / "generator" / p.name, shallow=False) for p in source.iterdir())
    assert _equal(_state(straight.body), load_file(source / "diffusion_pytorch_model.safetensors"))
    pipe = load_pose2vid_pipeline(final)
    assert _equal(pipe.face_enhancer.state_dict(), _state(straight.generator))
    assert pipe.face_enhancer.config.size_fraction == 0.5  # inference crops as training did

    poses_dir = data / "openpose_json_train_set" / HEADLESS[0]  # keypoints, one frame without anybody
    out = tmp_path / "infer" / "dance.mp4"
    written = infer_frames(out, *size_flags(32, 32), generator="pose2vid", weights=final, poses=poses_dir)
    poses = load_pose_sequence(poses_dir)
    keypoints = [poses.pose(i) for i in range(len(poses))]
    expected = list(pipe.iter_frames(poses, 32, 32, pose_keypoints=keypoints))
    assert len(written) == len(expected) == 6
    assert all(np.array_equal(a, b) for a, b in zip(written, expected, strict=True))
    body_only = list(Pose2VidPipeline(generator=pipe.generator).iter_frames(poses, 32, 32))
    changed = []
    for frame, plain, pose in zip(written, body_only, keypoints, strict=True):
        box = face_box(body_in_output(pose, 32, 32), 32, 32, 0.5, 4)
        outside = np.ones((32, 32), bool)
        if box is not None:
            outside[box.slices()] = False
        assert np.array_equal(frame[outside], plain[outside])  # the face enhancer touches its box only
        changed.append(int((frame != plain).any(axis=2).sum()))
    print(f"pixels changed by the face enhancer per frame: {changed}")
    assert changed[3] == 0 and all(c > 0 for i, c in enumerate(changed) if i != 3)  # frame 3: nobody


# ------------------------------------------------------------------------------------------------------------
# refusals


def test_the_face_stage_refuses_bad_set_ups_in_one_line(data, body, tmp_path, capsys):
    bare = make_square_dataset(tmp_path / "bare")  # frames and pose maps, no keypoints
    cases = [
        ({"data.root": bare}, "openpose_json_train_set"),
        ({"model.init_from": "???"}, "does not set model.init_from"),
        ({"train.fix_global_steps": 2}, "fix_global_steps"),
        ({"stage": "hands"}, "stage 'hands' must be one of body, face"),
        ({"model.variant": "mine"}, "model.variant 'mine' must be one of official, lotayou"),
        ({"data.height": 36}, "multiples of 8 for the body generator"),
        ({"model.init_from": tmp_path}, "holds no pose2vid generator"),
    ]
    for extra, expected in cases:
        AcceleratorState._reset_state(reset_partial_state=True)
        out = tmp_path / "out"
        args = [
            "train-pose2vid",
            "--config",
            str(FACE_CONFIG),
            *_dotlist({**_values(data, body, out), **extra}),
        ]
        assert cli.main(args) == 2, extra
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and expected in lines[0], (extra, err)
        assert not out.exists()
