"""Shared test helpers (pytest puts tests/ on sys.path, so test files import them from here)."""

import functools
import gc
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

# One thread for numpy's and scipy's OpenBLAS, as for torch (see _one_torch_thread_by_default below). OpenBLAS reads
# this when it loads, so it is set before the first numpy import. Measured on 2 cores, one other process running:
# FID's 2048-dimensional Frechet distance took 2.2-2.7 s with 1 thread and 5-36 s with 2, which busy-wait.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# torch's OpenMP threads, where a module uses two (two_torch_threads), sleep when they wait instead of spinning.
# OpenMP reads this when torch loads; it is then taken back out, so that processes the tests start are unaffected.
_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
os.environ["OMP_WAIT_POLICY"] = _OMP_WAIT_POLICY or "PASSIVE"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel  # noqa: E402

if _OMP_WAIT_POLICY is None:
    del os.environ["OMP_WAIT_POLICY"]


def make_square_dataset(root: Path, videos: int = 3, frames: int = 6, size: int = 40) -> Path:
    """Each video: its own background colour and a square of its own colour moving; the pose map is the
    square on black. Learnable: the target's colours come from the reference, its layout from the pose."""
    rng = np.random.RandomState(0)
    for v in range(videos):
        bg, fg = rng.randint(0, 256, 3), rng.randint(0, 256, 3)
        for split in ("train_set", "pose_map_train_set"):
            (root / split / f"vid{v}").mkdir(parents=True)
        for f in range(frames):
            x = 4 + 3 * f
            frame = np.empty((size, size, 3), np.uint8)
            frame[:] = bg
            frame[12:28, x : x + 12] = fg
            pose = np.zeros_like(frame)
            pose[12:28, x : x + 12] = 255
            Image.fromarray(frame).save(root / "train_set" / f"vid{v}" / f"{f:04d}.png")
            Image.fromarray(pose).save(root / "pose_map_train_set" / f"vid{v}" / f"{f:04d}.png")
    return root


def clip_vocab_text_encoder() -> CLIPTextModel:
    """A tiny text encoder with CLIP's 49408-token vocabulary: the empty prompt's ids are then known."""
    torch.manual_seed(0)
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
        )
    ).eval()


def make_bare_pretrained(folder: Path, dtype: torch.dtype = torch.float16) -> Path:
    """What a converted SD 1.5 folder gives the trainer, tiny: ``vae/`` and ``unet/`` stored in ``dtype``
    and the stored empty-prompt embedding; no text encoder, no tokenizer."""
    from magicpose.empty_prompt import compute_empty_prompt_embeds, save_empty_prompt_embeds
    from magicpose.tiny_models import make_pipeline

    pipe = make_pipeline("tiny", seed=0)
    folder.mkdir(parents=True)
    pipe.vae.to(dtype).save_pretrained(folder / "vae")
    pipe.unet.to(dtype).save_pretrained(folder / "unet")
    save_empty_prompt_embeds(compute_empty_prompt_embeds(pipe.text_encoder, pipe.tokenizer), folder)
    return folder


TINY_CONFIGS = {
    "appearance": Path(__file__).resolve().parents[1] / "configs" / "tiny_appearance.yaml",
    "pose_control": Path(__file__).resolve().parents[1] / "configs" / "tiny_pose_control.yaml",
}


def tiny_trainer(workspace: Path, stage: str, out: Path, resume: str | None = None, **overrides):
    """A MagicPoseTrainer on the tiny configs, ``workspace/pretrained`` and ``workspace/data``, in this process.

    Defaults: 3 steps, no validation, no checkpoint; stage 2 seeds its appearance UNet with the pretrained UNet.
    """
    from accelerate.state import AcceleratorState

    from magicpose.training.config import load_config
    from magicpose.training.magicpose_trainer import MagicPoseTrainer

    values = {
        "model.pretrained_dir": workspace / "pretrained",
        "data.root": workspace / "data",
        "output_dir": out,
        "validation.every_steps": 0,
        "checkpoint.every_steps": 1000,
        "train.max_steps": 3,
        **overrides,
    }
    if stage == "pose_control":
        values.setdefault("model.appearance_unet", workspace / "pretrained" / "unet")
    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one precision per process
    return MagicPoseTrainer(
        load_config(TINY_CONFIGS[stage], [f"{k}={v}" for k, v in values.items()], stage=stage), resume=resume
    )


# A short run through each path a GPU run takes besides the forward and backward passes: two steps with gradient
# checkpointing, validation after each, a checkpoint at the end. test_training_precision runs it on the CPU,
# test_cuda on a GPU; each adds its train.mixed_precision.
VALIDATED_CHECKPOINTED_RUN = {
    "train.max_steps": 2,
    "train.gradient_checkpointing": True,
    "validation.every_steps": 1,
    "validation.num_frames": 2,
    "validation.num_inference_steps": 2,
    "checkpoint.every_steps": 2,
}


def quick_frames(pipe, frames: int = 2, output_type: str = "np", **options):
    """The frames a pose-guided pipeline makes in two denoising steps at 32x32 from a black reference and
    ``frames`` copies of one random pose image: enough to see that a pipeline runs end to end."""
    return pipe(
        image=torch.zeros(3, 32, 32),
        pose_images=[torch.rand(3, 32, 32)] * frames,
        num_inference_steps=2,
        height=32,
        width=32,
        output_type=output_type,
        **options,
    ).frames[0]


def inert_biases(module: nn.Module) -> set[str]:
    """Biases of the convolutions followed by an affine-free instance norm, or by a BatchNorm (in training
    mode, on the batch's statistics), which subtract each channel's mean: they have no effect on any output,
    so their gradient is 0 up to rounding. pix2pixHD trains them anyway, and Adam, which divides by the
    gradient's own scale, turns that rounding into steps of up to the learning rate: they wander at random,
    differently for any change in the order of float operations."""
    inert = set()
    for name, seq in module.named_modules():
        if isinstance(seq, nn.Sequential):
            children = list(seq.named_children())
            for (i, a), (_, b) in zip(children[:-1], children[1:], strict=True):
                centred = isinstance(b, nn.BatchNorm2d) or (isinstance(b, nn.InstanceNorm2d) and not b.affine)
                if isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)) and centred:
                    inert.add(f"{name}.{i}.bias" if name else f"{i}.bias")
    return inert


# torch's own default: one intra-op thread per core.
CORE_THREADS = torch.get_num_threads()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread_by_default():
    """One intra-op thread for the whole run, as ``one_torch_thread`` gives a module. On a small machine a second
    OpenMP thread saves little for the tiny networks here, and while another process runs on the machine the
    threads spin against it: seen on 2 cores, a 0.5 s tiny-pipeline call taking 2 to 43 s, and test_evaluate.py
    (full-size VGG16 and Inception-v3) taking 80 to 90 s instead of 23 to 35 s. Quiet, a second thread saves
    time on full-size networks only: modules of those take ``two_torch_threads``."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(CORE_THREADS)


@pytest.fixture(scope="module")
def two_torch_threads():
    """At most two intra-op threads for a module of full-size networks (VGG16, Inception-v3, ResNet3D-50), whose
    large convolutions gain from a second thread; with OMP_WAIT_POLICY=PASSIVE (set above) the waiting thread
    sleeps, so another process on the machine does not make it spin. Measured on 2 cores, 80 VGG16 passes plus
    one Inception-v3 batch: 1.8 s with 1 thread, 1.05 s with 2 passive threads; while a 2-thread torch process ran
    beside it: 2.2-2.5 s with 1, 1.6 s with 2 passive and 3-15 s with 2 spinning (OpenMP's default). Modules take
    it with ``pytestmark = pytest.mark.usefixtures("two_torch_threads")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(CORE_THREADS, 2))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def _frozen_gc_heap():
    """Each module starts with the objects already alive (torch, transformers, diffusers, gradio, earlier modules'
    session-long state: millions of them) moved out of the garbage collector's reach, after a collection frees the
    unreachable ones: its full collections then scan only what this module creates. Without this the full
    collections scanned the whole heap, about 0.1-0.2 s each: 6.1 s of a 38.5 s run of test_cli, test_convert and
    test_training_precision, against 2.3-2.5 s with it. Reference counting frees objects as before; only garbage
    cycles among objects already alive at a module's start (session-long state, library caches) now stay in
    memory until the run ends."""
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module: fast for tiny networks on a small shared machine (no OpenMP spinning),
    reproducible, and what the torchrun ranks use, so in-process and subprocess runs agree bitwise. Modules
    take it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")`` (the session default now, see
    above; naming it keeps the guarantee where a module relies on it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> Path:
    """A torchvision-layout vgg19 state dict, random weights (real VGG weights are not on this machine)."""
    from magicpose.models.losses import vgg19_features

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in vgg19_features().state_dict().items()}, path)
    return path


def run_pose2vid_training(
    config: Path, overrides: list[str], nproc: int = 1, env: dict | None = None, resume: bool = False
) -> subprocess.CompletedProcess:
    """``train_pose2vid.py`` in a subprocess, as a user runs it (under ``torchrun`` for ``nproc`` > 1; the CPU
    ranks synchronise over gloo), one thread per process."""
    root = Path(__file__).resolve().parents[1]
    launcher = [sys.executable]
    if nproc > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    full_env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", **(env or {})}
    args = [
        *launcher,
        str(root / "train_pose2vid.py"),
        "--config",
        str(config),
        *(["--resume", "latest"] if resume else []),
        *overrides,
    ]
    return subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=root, timeout=300)


def train_here(script: str, argv: list[str]) -> None:
    """``python <script> argv`` (a ``train_*.py`` of the checkout) in this process: the same command's ``main``,
    on the CPU as the subprocess runs (ACCELERATE_USE_CPU) and on the session's one torch thread (the
    subprocesses' OMP_NUM_THREADS=1), so the two compute the same numbers bitwise; a Python start-up and a torch
    import (about 4 s here) cheaper."""
    import importlib
    from unittest import mock

    from accelerate.state import AcceleratorState

    command = importlib.import_module(f"magicpose.commands.{Path(script).stem}")
    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one state per process
    with mock.patch.dict(os.environ, {"ACCELERATE_USE_CPU": "true"}):
        status = command.main(argv)
    assert status == 0, f"{script} {' '.join(argv)} exited {status}"


def check_convert_overwrite(argv: list[str], out: Path, capsys) -> None:
    """``magicpose convert ... out``: an existing folder holding a user's file is refused without --overwrite and
    with it (--overwrite replaces only an earlier output of magicpose); an empty folder is filled and the
    command's own earlier output replaced. Leaves a converted folder at ``out``."""
    from magicpose.cli import main

    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and "--overwrite" in err
    assert main(argv + ["--overwrite"]) == 2
    assert "holds files magicpose did not write there (keep.txt)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    assert main(argv) == 0  # an empty folder is filled
    before = (out / "magicpose_info.json").stat().st_ino
    assert main(argv + ["--overwrite"]) == 0  # its own earlier output is replaced
    assert (out / "magicpose_info.json").stat().st_ino != before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary or old copy beside it


# -- test tiers: markers applied here, from what a test does, so no test file has to remember them --------------

# Starting a process (a CLI run, torchrun, a script, pip) costs a Python start-up and a torch import each time.
_SPAWNS = re.compile(r"\bsubprocess\.(?:run|Popen|check_call|check_output)\(|\brun_pose2vid_training\(")


@functools.cache
def _source(function) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


@functools.cache
def _spawning_functions(module_name: str) -> frozenset[str]:
    """Names of the module's own functions that start a process, directly or through one another."""
    module = sys.modules.get(module_name)
    if module is None:
        return frozenset()
    sources = {
        name: _source(obj)
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and obj.__module__ == module_name
    }
    spawning = {name for name, source in sources.items() if _SPAWNS.search(source)}
    while True:
        alternatives = "|".join(map(re.escape, spawning))
        calls = re.compile(rf"\b(?:{alternatives})\(") if spawning else None
        more = {
            name
            for name, source in sources.items()
            if name not in spawning and calls and calls.search(source)
        }
        if not more:
            return frozenset(spawning)
        spawning |= more


def _starts_a_process(item) -> bool:
    functions = [item.function]
    for defs in item._fixtureinfo.name2fixturedefs.values():
        functions += [d.func for d in defs]
    for function in functions:
        function = inspect.unwrap(function)
        source = _source(function)
        names = _spawning_functions(function.__module__)
        if _SPAWNS.search(source) or any(
            re.search(rf"\b{re.escape(n)}\(", source) for n in names - {function.__name__}
        ):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    """``slow``: the test (or a fixture it uses) starts a process; ``browser``: it drives chromium. The fast tier
    is ``python -m pytest -m "not slow and not browser"``."""
    for item in items:
        if item.module.__name__ == "test_ui_browser":
            item.add_marker(pytest.mark.browser)
        if _starts_a_process(item):
            item.add_marker(pytest.mark.slow)
