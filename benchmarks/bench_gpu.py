"""MagicPose on one CUDA GPU at Stable Diffusion 1.5 size (random weights): inference and training in one run.

    python benchmarks/bench_gpu.py [--json-out FILE] [--budget-s 285] [--only SECTION,...] [--work-dir DIR]
    python benchmarks/bench_gpu.py --smoke     # the same code on the CPU with the tiny models, < 1 min

Needs a CUDA GPU (without one it prints one `error:` line and exits 2) and about 4-5 minutes on an H100; the
package's dependencies (diffusers, omegaconf, av, ...) must be importable, magicpose itself is taken from src/.
The models are SD 1.5-sized with random weights, built on the GPU from the shipped SD 1.5 configurations
(magicpose.convert.configs); the ControlNet's zero convolutions are perturbed so the pose matters; the
prompt is a random stored embedding (no text encoder). Sections, in order, each timed on stderr:

  prepare           build the fp16 models; write a "pretrained" folder (vae/, unet/ in fp16, the stored
                    empty-prompt embedding) and a small TikTok-layout dataset for the training sections;
  inference.fp16    MagicPosePipeline, 512 px, 20 DDIM steps, guidance 7, output_type="latent": seconds per
                    frame over 16 frames for frames_per_batch 1, 4 and 16, each after its own warm-up call;
  inference.original  the literal original loop of tests/test_pipeline_equivalence.py (original_loop_runner)
                    on the GPU in fp16, on 2 frames; reported as
                    inference.pipeline_over_original = pipeline s/frame at frames_per_batch 4 / original's;
  memory            peak GPU memory (max_memory_allocated, model weights included) of a 16- and a 64-frame
                    call with 2 steps, output_type="latent" then streamed decoding (pipe.iter_frames), as the CLI;
  cpu_offload       the same pipeline after enable_model_cpu_offload(): s/frame (4 frames, 5 steps) and peak;
  inference.bf16    inference.fp16 again with bf16 models;
  training.<stage>.checkpointing_<on|off>  the package's MagicPoseTrainer exactly as users drive it
                    (configs/sd15_<stage>.yaml; 512 px, batch 8 and no gradient accumulation, bf16 mixed
                    precision, 2 warm-up + 5 timed steps, no checkpoints): samples/s over the timed steps,
                    peak GPU memory of the run (set-up included), and the time train() spends after its last
                    step (the final export); the checkpointing_on runs also time one trainer.validate()
                    (2 steps) and one trainer.save_final() (validation_s, export_s).

The training configurations run one after another in this process (accelerate's state reset in between,
everything freed and the peak counter reset before each), not in subprocesses: a fresh process costs an
import plus CUDA start-up each time (~5 s on the GPU host, ~13 s on a 2-core CPU), too much for the budget and
the smoke test, and max_memory_allocated counts exactly the tensors alive in this process; `baseline_gib`
(allocated when the run starts, ~0) is reported so a leak from an earlier section would show. A section that
fails (an OOM, a trainer bug) records {"error": "<first line>"} (with whatever it measured before failing)
and the run goes on; a section whose estimated cost would overrun --budget-s is skipped the same way. The exit
status is 1 when any section failed or was skipped. Progress goes to stderr; the last stdout line is one JSON
object (also written to --json-out after every section, so a run cut short still leaves its figures).
Training outputs go to /dev/shm when it has room (the exports of a stage-2 run are ~25 GB; the figures then
measure serialisation rather than disk): see "work_dir" in the JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sampling import sample

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the original loop's helpers (test_pipeline_equivalence)
sys.path.insert(0, str(ROOT / "src"))  # runs from a bare checkout too (e.g. on a lent GPU machine)

GUIDANCE = 7.0
SEED = 42
CLI_FRAMES_PER_BATCH = 4  # magicpose infer's default: the memory and offload sections use it
CONFIGS = {
    "appearance": ROOT / "configs" / "sd15_appearance.yaml",
    "pose_control": ROOT / "configs" / "sd15_pose_control.yaml",
}


@dataclass(frozen=True)
class Plan:
    """Every size of the run: the real one and the smoke one differ only here."""

    models: str  # "sd15" (shipped SD 1.5 configurations) or "tiny" (magicpose.tiny_models's test sizes)
    size: int  # pixels, inference and training
    steps: int  # DDIM steps of the timed inference
    frames: int  # frames per timed inference call
    frames_per_batch: tuple[int, ...]
    original_frames: int
    memory_frames: tuple[int, int]
    memory_steps: int
    offload_frames: int
    offload_steps: int
    train_batch: int
    train_warmup: int  # optimizer steps before the timed ones
    train_measured: int
    data_videos: int
    data_frames: int  # per video: warm-up + measured steps x batch must fit in one epoch
    num_workers: int
    validation_steps: int
    work_gib: float  # room the work folder needs (a stage-2 run's checkpoint + export at SD size)


# Each field of Plan: (the real run's value, the --smoke run's), side by side.
PLANS = {
    "models": ("sd15", "tiny"),
    "size": (512, 32),
    "steps": (20, 2),
    "frames": (16, 2),
    "frames_per_batch": ((1, 4, 16), (1, 4, 16)),
    "original_frames": (2, 1),
    "memory_frames": ((16, 64), (16, 64)),
    "memory_steps": (2, 1),
    "offload_frames": (4, 2),
    "offload_steps": (5, 2),
    "train_batch": (8, 2),
    "train_warmup": (2, 1),
    "train_measured": (5, 2),
    "data_videos": (4, 2),
    "data_frames": (15, 3),
    "num_workers": (4, 0),
    "validation_steps": (2, 2),
    "work_gib": (40.0, 0.1),
}
REAL = Plan(**{field: values[0] for field, values in PLANS.items()})
SMOKE = Plan(**{field: values[1] for field, values in PLANS.items()})
# Rough H100 seconds per section (see the module docstring): a section that would overrun the budget is skipped.
ESTIMATE_S = {
    "prepare": 15,
    "inference.fp16": 35,
    "inference.original": 6,
    "memory": 10,
    "cpu_offload": 10,
    "inference.bf16": 38,
    "training.appearance.checkpointing_on": 35,
    "training.pose_control.checkpointing_on": 50,
    "training.appearance.checkpointing_off": 28,
    "training.pose_control.checkpointing_off": 40,
}


def log(message: str) -> None:
    print(f"[bench_gpu {time.perf_counter() - T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def sig(x: float | None, digits: int = 4) -> float | None:
    """``x`` to ``digits`` significant digits (None and non-finite values pass through as None)."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


# -- the GPU: synchronising, memory ----------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable):
    """(seconds, result) of ``fn()``, the GPU's queue drained at both ends."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def gib(n: int) -> float:
    return sig(n / 2**30)


def peak_gib(device: torch.device) -> float | None:
    return gib(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def peak_reserved_gib(device: torch.device) -> float | None:
    return gib(torch.cuda.max_memory_reserved(device)) if device.type == "cuda" else None


def allocated_gib(device: torch.device) -> float | None:
    return gib(torch.cuda.memory_allocated(device)) if device.type == "cuda" else None


# -- models and inputs -----------------------------------------------------------------------------


def model_configs(models: str) -> dict:
    """ComponentConfig of each network: the shipped SD 1.5 ones, or magicpose.tiny_models's sizes."""
    from magicpose.convert.configs import ComponentConfig, _controlnet_from_unet, component_config

    if models == "sd15":
        return {name: component_config(name) for name in ("unet", "appearance_unet", "controlnet", "vae")}
    from magicpose.tiny_models import UNET_CONFIGS, VAE_CONFIGS

    unet = ComponentConfig("unet", dict(UNET_CONFIGS[models]), "magicpose.tiny_models")
    levels = len(VAE_CONFIGS[models]["block_out_channels"])
    vae = ComponentConfig(
        "vae",
        dict(
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            latent_channels=4,
            **VAE_CONFIGS[models],
        ),
        "magicpose.tiny_models",
    )
    return {
        "unet": unet,
        "appearance_unet": ComponentConfig("appearance_unet", unet.config, unet.source),
        "controlnet": _controlnet_from_unet(unet),
        "vae": vae,
    }


def build_components(plan: Plan, device: torch.device, dtype: torch.dtype, seed: int = 0) -> dict:
    """Seeded random networks built on ``device`` (an 860M-parameter init is fast there), cast to ``dtype``."""
    from magicpose.convert.configs import _instantiate
    from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline
    from magicpose.tiny_models import perturb_zero_initialised

    configs = model_configs(plan.models)
    models = {}
    with torch.device(device):
        for i, name in enumerate(("unet", "appearance_unet", "controlnet", "vae")):
            torch.manual_seed(seed + i)
            models[name] = _instantiate(configs[name])
    # Outside the device context: it draws on the CPU with a CPU generator and copies.
    perturb_zero_initialised(models["controlnet"], torch.Generator().manual_seed(seed + 9))
    for model in models.values():
        model.to(dtype=dtype).eval().requires_grad_(False)
    models["scheduler"] = MagicPosePipeline.default_scheduler()
    return models


def make_pipe(components: dict, prompt_embeds: torch.Tensor):
    """MagicPosePipeline without text encoder or tokenizer: the stored empty-prompt embedding replaces them."""
    from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline

    pipe = MagicPosePipeline(text_encoder=None, tokenizer=None, **components)
    pipe.empty_prompt_embeds = prompt_embeds
    pipe.set_progress_bar_config(disable=True)
    return pipe


def example_inputs(size: int, count: int):
    """The embedded example reference and poses (looped to ``count``), resized to ``size`` beforehand, so the
    timings hold only the pipeline's own work."""
    from PIL import Image

    reference = Image.open(ROOT / "example_data" / "reference.png").convert("RGB").resize((size, size))
    files = sorted((ROOT / "example_data" / "poses").glob("*.png"))
    poses = [Image.open(f).convert("RGB").resize((size, size)) for f in files]
    return reference, [poses[i % len(poses)] for i in range(count)]


def make_dataset(root: Path, videos: int, frames: int, size: int) -> int:
    """TikTok layout: per video a coloured gradient with a box moving across; the pose map is the box."""
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0.4, 1.0, size, dtype=np.float32)[:, None, None]
    for v in range(videos):
        background, box = rng.integers(0, 256, (2, 3))
        (root / "train_set" / f"vid{v}").mkdir(parents=True)
        (root / "pose_map_train_set" / f"vid{v}").mkdir(parents=True)
        for f in range(frames):
            image = np.broadcast_to(ramp * background, (size, size, 3)).astype(np.uint8)
            pose = np.zeros_like(image)
            x, w = int(f / frames * size * 0.6), size // 4
            image[size // 4 : size // 2, x : x + w] = box
            pose[size // 4 : size // 2, x : x + w] = 255
            for folder, pixels in (("train_set", image), ("pose_map_train_set", pose)):
                Image.fromarray(pixels).save(root / folder / f"vid{v}" / f"{f:04d}.png", compress_level=1)
    return videos * frames


def folder_gib(folder: Path) -> float:
    return gib(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()))


# -- inference ---------------------------------------------------------------------------------------


def generate(pipe, reference, poses, frames_per_batch: int, steps: int, size: int) -> torch.Tensor:
    return sample(
        pipe,
        reference,
        poses,
        size,
        steps,
        SEED,
        guidance_scale=GUIDANCE,
        frames_per_batch=frames_per_batch,
        output_type="latent",
    )


def time_inference(pipe, reference, poses, plan: Plan, device: torch.device) -> dict:
    """Seconds per frame for each frames_per_batch, each measured after a short call of its batch shape."""
    poses = poses[: plan.frames]
    out, finite = {"frames": len(poses), "steps": plan.steps, "s_per_frame": {}}, True
    for fpb in plan.frames_per_batch:
        generate(
            pipe, reference, poses[:fpb], fpb, 1, plan.size
        )  # this batch shape's kernels, cuDNN, allocator
        seconds, latents = timed(
            device, lambda fpb=fpb: generate(pipe, reference, poses, fpb, plan.steps, plan.size)
        )
        out["s_per_frame"][f"fpb{fpb}"] = sig(seconds / len(poses))
        finite = finite and bool(torch.isfinite(latents).all())
        log(
            f"  frames_per_batch {fpb}: {seconds / len(poses):.4f} s/frame ({len(poses)} frames, {seconds:.2f} s)"
        )
    out["latents_finite"] = finite  # random fp16 weights could overflow; the timing would not change
    return out


def time_original(ws: Workspace) -> dict:
    plan, device = ws.plan, ws.device
    from test_pipeline_equivalence import original_loop_runner

    run = original_loop_runner(ws.components, ws.prompt_embeds, device, torch.float16)
    poses = ws.poses[: plan.original_frames]
    run(ws.reference, poses[:1], 1, GUIDANCE, SEED, plan.size, decode=False)  # warm-up
    seconds, latents = timed(
        device, lambda: run(ws.reference, poses, plan.steps, GUIDANCE, SEED, plan.size, decode=False)
    )
    ours = generate(ws.pipe, ws.reference, poses, CLI_FRAMES_PER_BATCH, plan.steps, plan.size)
    diff = (latents.float() - ours.float()).abs().max().item()
    log(
        f"  original loop: {seconds / len(poses):.4f} s/frame ({len(poses)} frames); max |original - pipeline| "
        f"= {diff:.3g}"
    )
    return {
        "s_per_frame": sig(seconds / len(poses)),
        "frames": len(poses),
        "steps": plan.steps,
        "dtype": "fp16",
        "max_abs_latent_diff_vs_pipeline": sig(diff, 3),
    }


def measure_memory(ws: Workspace) -> dict:
    """Peak GPU memory of the CLI's way: latents out of the sampler, then decoded batch by batch."""
    plan, device, pipe = ws.plan, ws.device, ws.pipe
    out = {"steps": plan.memory_steps, "frames_per_batch": CLI_FRAMES_PER_BATCH, "weights_gib": None}
    free_memory(device)
    out["weights_gib"] = allocated_gib(device)
    for n in plan.memory_frames:
        poses = [ws.poses[i % len(ws.poses)] for i in range(n)]
        free_memory(device)
        reset_peak(device)
        latents = generate(pipe, ws.reference, poses, CLI_FRAMES_PER_BATCH, plan.memory_steps, plan.size)
        decoded = sum(1 for _ in pipe.iter_frames(latents, batch_size=CLI_FRAMES_PER_BATCH))
        if decoded != n:
            raise RuntimeError(f"iter_frames gave {decoded} frames for {n} poses")
        del latents
        out[f"peak_gib_{n}_frames"] = peak_gib(device)
        log(f"  {n} frames: peak {out[f'peak_gib_{n}_frames']} GiB")
    a, b = (out[f"peak_gib_{n}_frames"] for n in plan.memory_frames)
    out[f"peak_ratio_{plan.memory_frames[1]}_over_{plan.memory_frames[0]}"] = sig(b / a) if a and b else None
    return out


def measure_offload(ws: Workspace) -> dict:
    """enable_model_cpu_offload: each network moves to the GPU when it runs (last section on these models)."""
    plan, device, pipe = ws.plan, ws.device, ws.pipe
    pipe.enable_model_cpu_offload(device=device)
    free_memory(device)
    poses = ws.poses[: plan.offload_frames]
    generate(pipe, ws.reference, poses, CLI_FRAMES_PER_BATCH, 1, plan.size)  # warm-up
    reset_peak(device)
    seconds, _ = timed(
        device,
        lambda: generate(pipe, ws.reference, poses, CLI_FRAMES_PER_BATCH, plan.offload_steps, plan.size),
    )
    per_frame = seconds / len(poses)
    log(f"  cpu offload: {per_frame:.4f} s/frame ({len(poses)} frames, {plan.offload_steps} steps)")
    return {
        "s_per_frame": sig(per_frame),
        "s_per_frame_per_step": sig(per_frame / plan.offload_steps),
        "frames": len(poses),
        "steps": plan.offload_steps,
        "frames_per_batch": CLI_FRAMES_PER_BATCH,
        "peak_gib": peak_gib(device),
    }


def time_bf16(ws: Workspace) -> dict:
    ws.release()  # the fp16 models
    components = build_components(ws.plan, ws.device, torch.bfloat16)
    pipe = make_pipe(components, ws.prompt_embeds)
    return time_inference(pipe, ws.reference, ws.poses, ws.plan, ws.device)


# -- training ----------------------------------------------------------------------------------------


def training_overrides(ws: Workspace, stage: str, checkpointing: bool, output_dir: Path) -> list[str]:
    plan = ws.plan
    overrides = [
        f"model.pretrained_dir={ws.pretrained}",
        f"data.root={ws.data}",
        f"output_dir={output_dir}",
        f"data.height={plan.size}",
        f"data.width={plan.size}",
        f"data.num_workers={plan.num_workers}",
        f"train.batch_size={plan.train_batch}",
        f"train.max_steps={plan.train_warmup + plan.train_measured}",
        # One micro-batch per optimizer step (sd15_appearance.yaml accumulates 4): 4x fewer samples to time.
        "train.gradient_accumulation_steps=1",
        "train.mixed_precision=bf16",
        f"train.gradient_checkpointing={checkpointing}",
        "checkpoint.every_steps=0",  # no checkpoint (train() still writes the final export after its last step)
        "validation.every_steps=0",
        "validation.split=train",
        f"validation.num_inference_steps={plan.validation_steps}",
        "logging.report_to=none",
    ]
    if stage == "pose_control":
        overrides += [f"model.appearance_unet={ws.pretrained / 'unet'}", "model.controlnet=null"]
    return overrides


def train_once(ws: Workspace, stage: str, checkpointing: bool, extras: bool) -> dict:
    """One training configuration: build, train, (validate, export); every phase's failure is recorded."""
    from accelerate.state import AcceleratorState

    from magicpose.training.config import load_config
    from magicpose.training.magicpose_trainer import MagicPoseTrainer

    plan, device = ws.plan, ws.device
    output_dir = ws.work / f"train-{stage}-{'on' if checkpointing else 'off'}"
    out: dict = {"steps_measured": plan.train_measured, "steps_warmup": plan.train_warmup}
    errors = []
    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one precision per process
    free_memory(device)
    out["baseline_gib"] = allocated_gib(device)
    reset_peak(device)
    trainer = None
    try:
        cfg = load_config(
            CONFIGS[stage], training_overrides(ws, stage, checkpointing, output_dir), stage=stage
        )
        samples_per_step = cfg.train.batch_size * cfg.train.gradient_accumulation_steps  # one process
        out["samples_per_step"] = samples_per_step
        try:
            trainer = MagicPoseTrainer(cfg)
            trainer.train()
        except Exception as err:
            errors.append(f"train: {first_line(err)}")
            traceback.print_exc(file=sys.stderr)
        returned = time.perf_counter()
        times = getattr(trainer, "step_times", None) or []
        total_steps = plan.train_warmup + plan.train_measured
        if len(times) >= total_steps:
            seconds = times[total_steps - 1] - times[plan.train_warmup - 1]
            out["samples_per_s"] = sig(plan.train_measured * samples_per_step / seconds)
            out["s_per_step"] = sig(seconds / plan.train_measured)
            # train() writes the final export (final/, and pipeline/ after stage 2) after its last step.
            out["final_export_s"] = sig(returned - times[-1])
        out["peak_gib"], out["peak_reserved_gib"] = peak_gib(device), peak_reserved_gib(device)
        if extras and len(times) >= total_steps:
            for phase, key in (("validate", "validation_s"), ("save_final", "export_s")):
                try:
                    seconds, _ = timed(device, getattr(trainer, phase))
                    out[key] = sig(seconds)
                except Exception as err:
                    errors.append(f"{phase}: {first_line(err)}")
                    traceback.print_exc(file=sys.stderr)
    finally:
        trainer = None
        free_memory(device)
        shutil.rmtree(output_dir, ignore_errors=True)  # tens of GB at SD size
    log(
        f"  {stage}, checkpointing {'on' if checkpointing else 'off'}: {out.get('samples_per_s')} samples/s, "
        f"peak {out.get('peak_gib')} GiB"
    )
    if errors:
        out["error"] = "; ".join(errors)
    return out


# -- the run -----------------------------------------------------------------------------------------


class Workspace:
    """What the sections share: the plan, folders, inputs, and the fp16 models until bf16 replaces them."""

    def __init__(self, plan: Plan, device: torch.device, work: Path) -> None:
        self.plan, self.device, self.work = plan, device, work
        self.pretrained, self.data = work / "pretrained", work / "data"
        self.components: dict | None = None
        self.pipe = None
        count = max(plan.frames, plan.original_frames, plan.offload_frames, *plan.memory_frames)
        self.reference, self.poses = example_inputs(plan.size, count)
        self.prompt_embeds: torch.Tensor | None = None

    def prepare(self) -> dict:
        from magicpose.empty_prompt import save_empty_prompt_embeds

        self.components = build_components(self.plan, self.device, torch.float16)
        dim = self.components["unet"].config.cross_attention_dim
        self.prompt_embeds = torch.randn(1, 77, dim, generator=torch.Generator().manual_seed(1))
        self.pipe = make_pipe(self.components, self.prompt_embeds)
        # The trainer's "pretrained" folder: fp16 halves the writing; from_pretrained loads it as float32.
        for name in ("vae", "unet"):
            self.components[name].save_pretrained(self.pretrained / name)
        save_empty_prompt_embeds(self.prompt_embeds, self.pretrained)
        frames = make_dataset(self.data, self.plan.data_videos, self.plan.data_frames, self.plan.size)
        params = {
            k: sig(sum(p.numel() for p in m.parameters()) / 1e6)
            for k, m in self.components.items()
            if isinstance(m, torch.nn.Module)
        }
        return {"params_m": params, "pretrained_gib": folder_gib(self.pretrained), "dataset_frames": frames}

    def release(self) -> None:
        self.components = self.pipe = None
        free_memory(self.device)


class Runner:
    """Runs sections in order; a failure (or a section that would overrun the budget) is recorded, not raised."""

    def __init__(
        self, result: dict, device: torch.device, budget_s: float, only: list[str], json_out: Path | None
    ):
        self.result, self.device, self.budget_s, self.only, self.json_out = (
            result,
            device,
            budget_s,
            only,
            json_out,
        )
        self.failed: list[str] = []

    def put(self, key: str, value) -> None:
        *parents, last = key.split(".")
        node = self.result
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value

    def section(self, name: str, fn: Callable[[], dict], needs: str | None = None) -> None:
        if self.only and name != "prepare" and not any(name.startswith(o) for o in self.only):
            return
        elapsed = time.perf_counter() - T0
        if needs in self.failed:
            out = {"error": f"skipped: section {needs} failed"}
        elif elapsed + ESTIMATE_S[name] > self.budget_s:  # --smoke has no budget
            out = {
                "error": f"skipped: {elapsed:.0f} s + about {ESTIMATE_S[name]} s would overrun --budget-s "
                f"{self.budget_s:.0f}"
            }
        else:
            log(f"[{name}] start")
            start = time.perf_counter()
            try:
                out = fn()
            except Exception as err:
                traceback.print_exc(file=sys.stderr)
                out = {"error": first_line(err)}
            free_memory(self.device)
            self.result["section_s"][name] = sig(time.perf_counter() - start)
            log(f"[{name}] {self.result['section_s'][name]} s")
        if "error" in out:
            self.failed.append(name)
            log(f"[{name}] error: {out['error']}")
        self.put(name, out)
        self.save()

    def save(self) -> None:
        self.result["failed_sections"] = self.failed
        self.result["total_s"] = sig(time.perf_counter() - T0)
        if self.json_out is not None:
            tmp = self.json_out.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.result) + "\n")
            tmp.replace(self.json_out)


def pick_work_root(need_gib: float) -> Path:
    """/dev/shm when it has room (training writes tens of GB at SD size), else the temporary folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= need_gib * 2**30:
        return shm
    return Path(tempfile.gettempdir())


def header(plan: Plan, device: torch.device, work: Path) -> dict:
    import diffusers

    cuda = device.type == "cuda"
    fs_free = shutil.disk_usage(work).free
    return {
        "device": torch.cuda.get_device_name(device) if cuda else "cpu (smoke)",
        "smoke": not cuda,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "diffusers": diffusers.__version__,
        "python": sys.version.split()[0],
        "work_dir": str(work),
        "work_dir_free_gib": gib(fs_free),
        "plan": asdict(plan),
        "section_s": {},
    }


def run(plan: Plan, device: torch.device, args) -> dict:
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()  # per-model dtype-cast notes and the CPU-generator notice
    transformers_logging.set_verbosity_error()  # image-processor notes when the test module is imported
    root = Path(args.work_dir) if args.work_dir else pick_work_root(plan.work_gib)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_gpu-", dir=root))
    result = header(plan, device, work)
    log(
        f"{result['device']}, torch {result['torch']}, diffusers {result['diffusers']}; work folder {work} "
        f"({result['work_dir_free_gib']} GiB free)"
    )
    runner = Runner(result, device, args.budget_s, [o for o in args.only.split(",") if o], args.json_out)
    ws = Workspace(plan, device, work)
    try:
        runner.section("prepare", ws.prepare)
        runner.section(
            "inference.fp16",
            lambda: time_inference(ws.pipe, ws.reference, ws.poses, plan, device),
            needs="prepare",
        )
        runner.section("inference.original", lambda: time_original(ws), needs="prepare")
        pipeline = (
            result.get("inference", {})
            .get("fp16", {})
            .get("s_per_frame", {})
            .get(f"fpb{CLI_FRAMES_PER_BATCH}")
        )
        original = result.get("inference", {}).get("original", {}).get("s_per_frame")
        runner.put(
            "inference.pipeline_over_original", sig(pipeline / original) if pipeline and original else None
        )
        runner.section("memory", lambda: measure_memory(ws), needs="prepare")
        runner.section("cpu_offload", lambda: measure_offload(ws), needs="prepare")
        runner.section("inference.bf16", lambda: time_bf16(ws), needs="prepare")
        ws.release()
        # The shipped configurations' setting (checkpointing on) first: if the budget runs out, it is the
        # "off" runs, the likeliest to run out of memory, that are skipped.
        for checkpointing in (True, False):
            for stage in ("appearance", "pose_control"):
                name = f"training.{stage}.checkpointing_{'on' if checkpointing else 'off'}"
                runner.section(
                    name, lambda s=stage, c=checkpointing: train_once(ws, s, c, extras=c), needs="prepare"
                )
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    runner.save()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="the same code on the CPU with tiny models")
    parser.add_argument(
        "--json-out", type=Path, default=None, help="also write the JSON here (after each section)"
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=285.0,
        help="skip a section whose estimated H100 time would end past this many seconds",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated section-name prefixes (prepare always runs)"
    )
    parser.add_argument(
        "--work-dir", default=None, help="where the work folder goes (default: /dev/shm if roomy)"
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.smoke:
        os.environ["ACCELERATE_USE_CPU"] = "true"  # the trainer stays on the CPU even where a GPU exists
        # Tiny models gain nothing from threads, and on a busy 2-core machine OpenMP's waiting threads
        # made one tiny UNet call 50x slower.
        torch.set_num_threads(1)
        plan, device = SMOKE, torch.device("cpu")
        args.budget_s = math.inf
    elif not torch.cuda.is_available():
        print(
            f"error: bench_gpu.py needs a CUDA GPU (torch {torch.__version__} sees none); "
            "run it with --smoke to check its plumbing on the CPU",
            file=sys.stderr,
        )
        return 2
    else:
        plan, device = REAL, torch.device("cuda")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the trainer's progress bars would bury the section lines
    result = run(plan, device, args)
    log(f"done in {result['total_s']} s; failed sections: {', '.join(result['failed_sections']) or 'none'}")
    sys.stderr.flush()
    print(json.dumps(result), flush=True)
    return 1 if result["failed_sections"] else 0


if __name__ == "__main__":
    sys.exit(main())
