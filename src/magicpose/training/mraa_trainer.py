"""MRAA training (clean-room, ref-mraa-and-peers.md §A.2 and §A.4): what the shared loop
(:mod:`magicpose.training.loop`) runs for its two stages.

``train``: a batch of (source, driving) frame pairs of one video each. The region predictor finds regions in
both, the background predictor the camera's motion between them, and the generator redraws the driving frame
from the source. Losses: the perceptual pyramid between the prediction and the driving frame, and the two
equivariance terms (regions found on a random warp 𝒯 of the driving frame, mapped back by 𝒯, must match the
frame's own). One Adam over the three networks; the learning rate drops by ``lr_gamma`` at the
``lr_decay_at`` fractions of the run. No GAN.

``train_avd``: the AVD network on the frozen region predictor of a ``train`` run. Its identity input is the
source frame's regions, its pose input the driving frame's regions stretched by a random factor per axis;
its target is the driving frame's own regions (same person, so shape comes from the identity input).

The three networks of ``train`` run as one module (:class:`MRAATrainingModel`), so DDP sees one forward per
backward although the region predictor runs three times. Every random draw is a function of the seed, the
step and the rank, so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from magicpose import files
from magicpose.data.video_frames import FramePairDataset, list_frame_videos
from magicpose.errors import InputError
from magicpose.models.losses import VGGPerceptualLoss
from magicpose.models.mraa_avd import AVDNetwork
from magicpose.models.mraa_background import BackgroundMotionPredictor
from magicpose.models.mraa_generator import MRAAGenerator
from magicpose.models.mraa_regions import RegionPredictor, Regions
from magicpose.pipelines.pipeline_mraa import MRAAPipeline
from magicpose.training import checkpoints
from magicpose.training.loop import TrainingLoop
from magicpose.training.mraa_config import MRAATrainingConfig
from magicpose.training.mraa_losses import PerceptualPyramidLoss, RandomWarp, equivariance_losses

COMPONENTS = ("region_predictor", "generator", "bg_predictor", "avd_network")


def build_pipeline(cfg: MRAATrainingConfig) -> MRAAPipeline:
    """Freshly initialised networks as the config describes them (each section's fields are its network's
    arguments; the AVD network is built by the train_avd stage)."""
    m = cfg.model
    return MRAAPipeline(
        region_predictor=RegionPredictor(num_regions=m.num_regions, **asdict(m.regions)),
        generator=MRAAGenerator(
            num_regions=m.num_regions,
            revert_axis_swap=m.revert_axis_swap,
            flow_params=asdict(m.flow),
            sample_size=cfg.data.size,
            **asdict(m.generator),
        ),
        bg_predictor=BackgroundMotionPredictor(**asdict(m.background)),
    )


def build_avd(cfg: MRAATrainingConfig) -> AVDNetwork:
    return AVDNetwork(cfg.model.num_regions, cfg.model.avd.id_bottleneck, cfg.model.avd.pose_bottleneck)


def load_trained_pipeline(path: str | Path) -> MRAAPipeline:
    """A ``train`` run's ``final/`` (given the run folder or ``final/`` itself) or any MRAA pipeline folder."""
    path = Path(path)
    folder = path / "final" if (path / "final" / "model_index.json").is_file() else path
    if not (folder / "model_index.json").is_file():
        raise InputError(
            f"model.init_from '{path}' is not an MRAA pipeline folder nor a run folder with final/: pass the "
            "output_dir of a finished stage=train run"
        )
    try:
        return MRAAPipeline.from_pretrained(folder)
    except Exception as err:  # a folder of another pipeline, or damaged weights: the user's file, one line
        raise InputError(
            f"model.init_from '{folder}' is not a loadable MRAA pipeline ({err}): pass the output_dir of a stage=train run"
        ) from err


class MRAATrainingModel(nn.Module):
    """The ``train`` stage's forward pass over the three trained networks, returning its loss terms."""

    def __init__(
        self, pipe: MRAAPipeline, perceptual: PerceptualPyramidLoss, cfg: MRAATrainingConfig
    ) -> None:
        super().__init__()
        self.region_predictor = pipe.region_predictor
        self.generator = pipe.generator
        self.bg_predictor = pipe.bg_predictor
        self.perceptual = perceptual
        self.loss = cfg.loss
        self.revert_axis_swap = cfg.model.revert_axis_swap

    def forward(self, source: Tensor, driving: Tensor, warp: RandomWarp) -> tuple[dict[str, Tensor], Tensor]:
        source_regions = self.region_predictor(source)
        driving_regions = self.region_predictor(driving)
        background = self.bg_predictor(source, driving)
        prediction = self.generator(source, source_regions, driving_regions, background).prediction
        terms = {"perceptual": self.perceptual(prediction, driving)}
        if self.loss.equivariance_shift or self.loss.equivariance_affine:
            warped_regions = self.region_predictor(warp.warp_image(driving))
            shift, affine = equivariance_losses(driving_regions, warped_regions, warp, self.revert_axis_swap)
            terms["equivariance_shift"] = self.loss.equivariance_shift * shift
            terms["equivariance_affine"] = self.loss.equivariance_affine * affine
        return terms, prediction


def scaled_regions(regions: Regions, scale: Tensor) -> Regions:
    """Regions stretched by ``scale`` (B, 2) along x and y: centres and shapes alike."""
    stretch = torch.diag_embed(scale)[:, None]  # (B, 1, 2, 2)
    affine = stretch @ regions.affine
    return Regions(regions.shift * scale[:, None], affine @ affine.transpose(-1, -2), affine)


class MRAATrainer(TrainingLoop):
    cfg: MRAATrainingConfig
    tracker_project = "magicpose_mraa"
    dataset_unit = "frame pairs"

    @property
    def stage_name(self) -> str:
        return "mraa" if self.cfg.stage == "train" else "mraa avd"

    def build_dataset(self) -> FramePairDataset:
        d = self.cfg.data
        return FramePairDataset(
            d.root,
            d.split,
            size=d.size,
            num_repeats=d.num_repeats,
            seed=self.cfg.train.seed,
            flip=d.flip,
            time_flip=d.time_flip,
            jitter=d.jitter,
        )

    def prepare(self) -> None:
        cfg, device = self.cfg, self.accelerator.device
        self.trained_from = load_trained_pipeline(cfg.model.init_from) if cfg.model.init_from else None
        self.vgg = None
        if cfg.stage == "train_avd":
            predictor = self.trained_from.region_predictor.config
            if predictor.num_regions != cfg.model.num_regions:
                raise InputError(
                    f"model.init_from has {predictor.num_regions} regions but model.num_regions is "
                    f"{cfg.model.num_regions}: set model.num_regions={predictor.num_regions}"
                )
        elif cfg.loss.vgg19_path:
            self.vgg = VGGPerceptualLoss.from_file(cfg.loss.vgg19_path).to(device)

    def inputs(self) -> list:
        return [self.cfg.model.init_from] if self.cfg.model.init_from else []

    def check_validation_data(self) -> None:
        cfg = self.cfg
        try:
            list_frame_videos(cfg.data.root, cfg.validation.split or cfg.data.split)
        except InputError as err:
            raise InputError(f"validation: {err}; or set validation.every_steps=0") from err

    def build_networks(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        betas = (cfg.train.adam_beta1, cfg.train.adam_beta2)
        if cfg.stage == "train":
            self.pipe = build_pipeline(cfg)
            if self.trained_from is not None:
                self._start_from_trained()
                self.trained_from = None  # its weights are copied: do not hold a second set during training
            perceptual = PerceptualPyramidLoss(
                self.vgg, layer_weights=cfg.loss.perceptual_weights, l1_weight=cfg.loss.l1_weight
            )
            model = MRAATrainingModel(self.pipe, perceptual, cfg).to(acc.device)
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.Adam(params, lr=cfg.train.learning_rate, betas=betas)
            self.model, self.optimizer = acc.prepare(model, optimizer)
            self.model.train()
        else:
            self.pipe = self.trained_from
            self.pipe.region_predictor.to(acc.device).eval().requires_grad_(False)
            avd = build_avd(cfg)
            optimizer = torch.optim.Adam(avd.parameters(), lr=cfg.train.learning_rate, betas=betas)
            self.model, self.optimizer = acc.prepare(avd, optimizer)
            self.model.train()
            self.pipe.register_modules(avd_network=acc.unwrap_model(self.model))

    def _start_from_trained(self) -> None:
        """A longer schedule from a finished train run: its weights, a fresh optimiser and learning rate."""
        for name, section in (
            ("region_predictor", "regions"),
            ("generator", "generator"),
            ("bg_predictor", "background"),
        ):
            try:
                getattr(self.pipe, name).load_state_dict(getattr(self.trained_from, name).state_dict())
            except RuntimeError as err:
                lines = str(err).splitlines()  # torch's heading, then one line per mismatched tensor
                raise InputError(
                    f"model.init_from '{self.cfg.model.init_from}': its {name} does not fit this config's "
                    f"model.{section} ({lines[min(1, len(lines) - 1)].strip()}): use the config of the run it "
                    "came from"
                ) from err

    def learning_rate(self, step: int) -> float:
        train = self.cfg.train
        drops = sum(step >= round(f * train.max_steps) for f in train.lr_decay_at)
        return train.learning_rate * train.lr_gamma**drops

    def row_generators(self, indices) -> list[torch.Generator]:
        """One generator per sample of the batch, seeded by (seed, step, dataset index): a sample's warp and
        AVD scale do not depend on which process or batch row it lands in (so N processes = 1 process)."""
        seeds = (
            np.random.SeedSequence([self.cfg.train.seed, self.global_step, int(i)]).generate_state(1)[0]
            for i in indices
        )
        return [torch.Generator().manual_seed(int(seed)) for seed in seeds]

    def train_step(self, batch: dict) -> dict[str, float]:
        cfg, acc = self.cfg, self.accelerator
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.global_step)
        source, driving = batch["source"].to(acc.device), batch["driving"].to(acc.device)
        generators = self.row_generators(batch["index"])
        with acc.autocast():
            if cfg.stage == "train_avd":
                terms = self._avd_terms(source, driving, generators)
            else:
                terms = self._terms(source, driving, generators)
        loss = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        acc.backward(loss)
        if cfg.train.max_grad_norm:
            acc.clip_grad_norm_(self.model.parameters(), cfg.train.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}

    def _terms(self, source: Tensor, driving: Tensor, generators: list[torch.Generator]) -> dict[str, Tensor]:
        loss = self.cfg.loss
        warp = RandomWarp(
            source.shape[0],
            loss.sigma_affine,
            loss.sigma_tps,
            loss.points_tps,
            generator=generators,
            device=source.device,
        )
        terms, _ = self.model(source, driving, warp)
        return terms

    def _avd_terms(
        self, source: Tensor, driving: Tensor, generators: list[torch.Generator]
    ) -> dict[str, Tensor]:
        loss = self.cfg.loss
        with torch.no_grad():
            source_regions = self.pipe.region_predictor(source)
            driving_regions = self.pipe.region_predictor(driving)
        r = loss.random_scale
        scale = 1 - r + 2 * r * torch.stack([torch.rand(2, generator=g) for g in generators])
        predicted = self.model(source_regions, scaled_regions(driving_regions, scale.to(source.device)))
        return {
            "avd_shift": loss.avd_shift * (predicted.shift - driving_regions.shift).abs().mean(),
            "avd_affine": loss.avd_affine * (predicted.affine - driving_regions.affine).abs().mean(),
        }

    def progress_postfix(self, losses: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{losses['loss']:.4f}"}

    def logged(self, losses: dict[str, float]) -> dict[str, float]:
        return {**super().logged(losses), "lr": self.learning_rate(self.global_step - 1)}

    # -- saving -----------------------------------------------------------------------------------

    def trained_networks(self) -> dict[str, nn.Module]:
        if self.cfg.stage == "train_avd":
            return {"AVD network": self.pipe.avd_network}
        return {
            "region predictor": self.pipe.region_predictor,
            "generator": self.pipe.generator,
            "background predictor": self.pipe.bg_predictor,
        }

    def save_networks(self, models: list, weights: list, output_dir: str) -> None:
        """The whole pipeline folder (the frozen networks too, so a checkpoint is a usable pipeline)."""
        if self.accelerator.is_main_process:
            self.pipe.save_pretrained(output_dir)
        weights.clear()

    def load_networks(self, models: list, input_dir: str) -> None:
        names = ("avd_network",) if self.cfg.stage == "train_avd" else COMPONENTS[:3]
        for name in names:
            checkpoints.load_module_weights(getattr(self.pipe, name), Path(input_dir) / name)
        models.clear()

    def write_final(self) -> None:
        """``final/``: a complete MRAAPipeline folder, written under a temporary name and committed."""
        with files.atomic_path(self.output_dir / "final", kind="training") as tmp:
            self.pipe.save_pretrained(tmp)

    def validation_rows(self) -> list[np.ndarray]:
        """source | driving | generated, the validation split's first video driving its own first frame."""
        cfg = self.cfg
        video = list_frame_videos(cfg.data.root, cfg.validation.split or cfg.data.split)[0]
        frames = video.read(cfg.data.size)[: cfg.validation.num_frames + 1]
        source, driving = frames[0], frames[1:]
        networks = [n for n in (self.pipe.region_predictor, self.pipe.generator, self.pipe.avd_network) if n]
        modes = [n.training for n in networks]
        for n in networks:
            n.eval()
        try:
            mode = "avd" if cfg.stage == "train_avd" else "standard"
            generated = list(self.pipe.iter_frames(source, driving, mode=mode))
        finally:
            for n, training in zip(networks, modes, strict=True):
                n.train(training)
        return [np.concatenate([source, d, g], axis=1) for d, g in zip(driving, generated, strict=True)]


def describe(trainer: MRAATrainer) -> str:
    cfg, acc = trainer.cfg, trainer.accelerator
    millions = {
        name: sum(p.numel() for p in net.parameters()) / 1e6
        for name, net in trainer.trained_networks().items()
    }
    networks = ", ".join(f"{name} {m:.2f}M" for name, m in millions.items())
    perceptual = (
        "VGG19 perceptual pyramid"
        if trainer.vgg is not None
        else f"pixel pyramid (loss.l1_weight={cfg.loss.l1_weight:g}; no VGG19 weights)"
    )
    loss = perceptual if cfg.stage == "train" else "L1 to the driving regions"
    return (
        f"MRAA {cfg.stage}: {networks} parameters; {cfg.model.num_regions} regions; {loss}; "
        f"{acc.num_processes} process(es) ({acc.distributed_type}); {len(trainer.dataset)} frame pairs per "
        f"epoch from {len(trainer.dataset.videos)} video(s); {cfg.train.max_steps} steps of "
        f"{trainer.samples_per_step} pairs"
    )
