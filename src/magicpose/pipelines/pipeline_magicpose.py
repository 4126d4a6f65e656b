"""MagicPose inference: a reference image and a pose sequence in, a video of that person out.

The sampler, precisely (MagicPose / MagicDance released code, ``control_mode=controlnet_important``):
at each DDIM timestep ``t``

* the appearance UNet ``A`` runs on the clean reference latent at ``t`` and writes the input of
  every self-attention layer into a bank;
* conditional prediction: the frozen UNet ``U`` whose ``attn1`` keys/values are
  ``[own tokens ; bank tokens]``, plus the pose ControlNet residuals;
* unconditional prediction: plain ``U``, no bank, no pose;
* ``eps = eps_uncond + s * (eps_cond - eps_uncond)``; the prompt is the same (empty) in both.

Exact speed-ups over the original loop (each proven equal by ``tests/test_pipeline_equivalence.py``):
the bank is computed once per timestep for the whole video (it depends only on the reference,
``t`` and the prompt), the ControlNet is not run for the unconditional branch, the reference latent
and the prompt embedding are computed once, frames are batched, and the appearance UNet stops
after the last bank write.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    ControlNetModel,
    DDIMScheduler,
    DiffusionPipeline,
    UNet2DConditionModel,
)
from diffusers.image_processor import VaeImageProcessor
from diffusers.pipelines.pipeline_utils import StableDiffusionMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from magicpose.empty_prompt import EmptyPromptEmbedding, compute_empty_prompt_embeds, load_empty_prompt_embeds
from magicpose.models.reference_attention import ReferenceBank, attached_reference_bank, run_appearance_unet
from magicpose.pipelines.generic_loading import GenericLoadingMixin
from magicpose.pipelines.inputs import ImageInput, pose_to_uint8, reference_pixels

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import torch
        >>> from magicpose import MagicPosePipeline
        >>> from magicpose.image_utils import load_image
        >>> from magicpose.pose import load_pose_sequence

        >>> pipe = MagicPosePipeline.from_pretrained("pretrained_weights/magicpose-sd15")  # a local folder
        >>> reference = load_image("example_data/reference.png")
        >>> poses = load_pose_sequence("example_data/poses")
        >>> video = pipe(image=reference, pose_images=poses, generator=torch.Generator().manual_seed(42)).frames[0]
        >>> video[0].save("frame0.png")
        ```
"""

PoseImage = ImageInput


@dataclass
class MagicPosePipelineOutput(BaseOutput):
    """Output of :class:`MagicPosePipeline`.

    Args:
        frames: the generated videos, batch first as in diffusers' video pipelines, each with one frame per
            pose: a list of videos that are lists of PIL images, a float array ``(B, F, H, W, 3)`` in [0, 1], a
            tensor ``(B, F, 3, H, W)`` in [0, 1], or latents ``(B, F, 4, h, w)`` for ``output_type="latent"``.
    """

    frames: list[list[PIL.Image.Image]] | np.ndarray | torch.Tensor


class MagicPosePipeline(GenericLoadingMixin, DiffusionPipeline, StableDiffusionMixin):
    r"""Pose retargeting with MagicPose: appearance control + pose ControlNet on a frozen SD UNet.

    Args:
        vae: the SD VAE, encodes the reference and decodes the frames (``AutoencoderTiny`` works too).
        text_encoder: CLIP text encoder (the prompt is empty by default, as in the original); optional
            when the folder stores the empty-prompt embedding (the ``empty_prompt`` component).
        tokenizer: CLIP tokenizer; optional: without it only the empty prompt works (its CLIP ids are known).
        unet: the frozen Stable Diffusion UNet.
        appearance_unet: a UNet of the same configuration whose self-attention inputs are injected
            into ``unet`` (its output head is never used).
        controlnet: the OpenPose ControlNet; ``None`` for a stage-1 (appearance only) model, whose
            frames then follow no pose.
        scheduler: DDIM configured as the original (see :meth:`default_scheduler`); any diffusers scheduler
            can replace it (``Scheduler.from_config(pipe.scheduler.config)``).
        empty_prompt: the CLIP embedding of "" (an :class:`EmptyPromptEmbedding`), used instead of the text
            encoder for the empty prompt; also reachable as the tensor ``empty_prompt_embeds``.

    A saved folder loads with ``MagicPosePipeline.from_pretrained(folder)`` or with diffusers' generic
    ``DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`` (see ``generic_loading``).
    """

    model_cpu_offload_seq = "text_encoder->appearance_unet->controlnet->unet->vae"
    _optional_components = ["controlnet", "tokenizer", "text_encoder", "empty_prompt"]
    _exclude_from_cpu_offload = ["empty_prompt"]
    _callback_tensor_inputs = ["latents"]

    def __init__(
        self,
        vae: AutoencoderKL | AutoencoderTiny,
        text_encoder: CLIPTextModel | None,
        tokenizer: CLIPTokenizer | None,
        unet: UNet2DConditionModel,
        appearance_unet: UNet2DConditionModel,
        controlnet: ControlNetModel | None,
        scheduler: DDIMScheduler,
        empty_prompt: EmptyPromptEmbedding | None = None,
    ):
        super().__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            appearance_unet=appearance_unet,
            controlnet=controlnet,
            scheduler=scheduler,
            empty_prompt=empty_prompt,
        )
        # 8 (SD's) when built without a VAE, e.g. only to encode prompts, as diffusers pipelines do
        self.vae_scale_factor = (
            2 ** (len(self.vae.config.block_out_channels) - 1) if self.vae is not None else 8
        )
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor)
        # Attached to the two UNets only while a call samples (see attached_reference_bank): the UNets'
        # attention processors are never replaced, so a UNet shared with other pipelines is left as it was.
        self.bank = ReferenceBank()

    @property
    def empty_prompt_embeds(self) -> torch.Tensor | None:
        """The CLIP embedding of "" (1, 77, dim) the ``empty_prompt`` component holds, or None."""
        return None if self.empty_prompt is None else self.empty_prompt.embeds

    @empty_prompt_embeds.setter
    def empty_prompt_embeds(self, embeds: torch.Tensor | None) -> None:
        self.register_modules(
            empty_prompt=None if embeds is None else EmptyPromptEmbedding.from_tensor(embeds)
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """``DiffusionPipeline.from_pretrained``; a local folder written before the embedding was a component
        still gives its ``empty_prompt_embeds.safetensors``."""
        pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        if pipe.empty_prompt is None and Path(pretrained_model_name_or_path).is_dir():
            legacy = load_empty_prompt_embeds(pretrained_model_name_or_path)
            if legacy is not None:
                pipe.empty_prompt_embeds = legacy
        return pipe

    @staticmethod
    def default_scheduler() -> DDIMScheduler:
        """DDIM as in the original: scaled-linear betas 0.00085-0.012, leading spacing, offset 1, eta 0."""
        return DDIMScheduler(
            num_train_timesteps=1000,
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            timestep_spacing="leading",
            steps_offset=1,
            set_alpha_to_one=False,
            clip_sample=False,
            prediction_type="epsilon",
        )

    # -- attention backends -------------------------------------------------------------------

    # The reference bank works with whichever attention processors the UNets run (it hands each attn1 its extended
    # context), so diffusers' own switches apply unchanged: set_attn_processor, set_default_attn_processor,
    # enable_attention_slicing, enable_xformers_memory_efficient_attention.

    def enable_xformers_memory_efficient_attention(self, attention_op: Callable | None = None) -> None:
        """Use xformers for every attention, the reference self-attention included."""
        try:
            import xformers.ops  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "xformers is not installed: pip install 'magicpose[xformers]', or keep the default "
                "PyTorch scaled-dot-product attention"
            ) from err
        super().enable_xformers_memory_efficient_attention(attention_op)

    # -- properties (diffusers conventions) ---------------------------------------------------

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    # -- inputs -------------------------------------------------------------------------------

    def check_inputs(
        self,
        image,
        pose_images,
        height: int,
        width: int,
        frames_per_batch: int,
        appearance_timestep: str,
        latents: torch.Tensor | None,
        callback_on_step_end_tensor_inputs: list[str],
        num_videos_per_prompt: int = 1,
    ) -> None:
        if height % self.vae_scale_factor or width % self.vae_scale_factor or height <= 0 or width <= 0:
            raise ValueError(
                f"height and width must be positive multiples of {self.vae_scale_factor}, got {height}x{width}"
            )
        if image is None:
            raise ValueError("`image` (the reference image) is required")
        if pose_images is None or len(pose_images) == 0:
            raise ValueError("`pose_images` is empty: pass one pose map per output frame")
        if frames_per_batch < 1:
            raise ValueError(f"frames_per_batch must be >= 1, got {frames_per_batch}")
        if appearance_timestep not in ("same", "zero"):
            raise ValueError(f"appearance_timestep must be 'same' or 'zero', got {appearance_timestep!r}")
        if not isinstance(num_videos_per_prompt, int) or num_videos_per_prompt < 1:
            raise ValueError(f"num_videos_per_prompt must be an integer >= 1, got {num_videos_per_prompt!r}")
        shape = (
            self.unet.config.in_channels,
            height // self.vae_scale_factor,
            width // self.vae_scale_factor,
        )
        if latents is not None and (
            latents.ndim not in (4, 5)
            or tuple(latents.shape[-3:]) != shape
            or latents.shape[-4] not in (1, len(pose_images))
        ):
            raise ValueError(
                f"latents must have shape ([videos,] 1 or {len(pose_images)}, {', '.join(map(str, shape))})"
            )
        bad = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
        if bad:
            raise ValueError(
                f"callback_on_step_end_tensor_inputs {bad} not in {self._callback_tensor_inputs}"
            )

    def encode_prompt(self, prompt: str, device: torch.device) -> tuple[torch.Tensor]:
        """``(prompt_embeds,)``: the CLIP ``last_hidden_state`` of the prompt, shape (1, 77, dim), in a tuple as
        diffusers' ``encode_prompt`` returns its embeddings, named as ``__call__``'s argument (there is no
        negative prompt: the unconditional branch drops the reference and the pose, not the text)."""
        if not isinstance(prompt, str):
            raise ValueError(f"`prompt` is one string shared by every video, got {type(prompt).__name__}")
        if prompt == "" and self.empty_prompt_embeds is not None:
            # a copy: a loaded buffer may sit unaligned in the file's memory map (see load_empty_prompt_embeds)
            prompt_embeds = self.empty_prompt_embeds.to(device).clone()
        elif self.text_encoder is None:
            raise ValueError(
                "this pipeline has neither a text encoder nor a stored empty-prompt embedding: "
                "pass prompt_embeds"
            )
        elif self.tokenizer is None:
            if prompt != "":
                raise ValueError(
                    "this pipeline has no tokenizer, so only the empty prompt works: pass prompt_embeds,"
                    " or convert again with --tokenizer <a CLIP tokenizer folder>"
                )
            prompt_embeds = compute_empty_prompt_embeds(self.text_encoder).to(device)
        else:
            ids = self.tokenizer(
                prompt,
                padding="max_length",
                max_length=self.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            prompt_embeds = self.text_encoder(ids.to(device))[0]
        return (prompt_embeds,)

    def prepare_pose_images(self, pose_images: Sequence[PoseImage], height: int, width: int) -> torch.Tensor:
        """Pose maps as one uint8 tensor (F, 3, H, W) kept on the CPU: 3·H·W bytes per frame."""
        out = torch.empty((len(pose_images), 3, height, width), dtype=torch.uint8)
        for i in range(len(pose_images)):
            out[i] = torch.from_numpy(
                np.ascontiguousarray(pose_to_uint8(pose_images[i], height, width))
            ).permute(2, 0, 1)
        return out

    def encode_pixels(
        self,
        pixels: torch.Tensor,
        generator: torch.Generator | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """Scaled VAE latents of images in [-1, 1]: a sample of the posterior as in the original (an
        ``AutoencoderTiny``, which has no posterior, gives its latents)."""
        encoded = self.vae.encode(pixels.to(device=device, dtype=self.vae.dtype))
        latent = encoded.latent_dist.sample(generator) if hasattr(encoded, "latent_dist") else encoded.latents
        return (latent * self.vae.config.scaling_factor).to(dtype)

    def encode_reference(
        self,
        image,
        height: int,
        width: int,
        generator: torch.Generator | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """Scaled VAE latents (N, 4, h, w) of the reference image(s), in any input form ``image`` takes."""
        return self.encode_pixels(reference_pixels(image, height, width), generator, device, dtype)

    def prepare_latents(
        self,
        num_frames: int,
        height: int,
        width: int,
        same_noise_for_all_frames: bool,
        generator: torch.Generator | None,
        device: torch.device,
        dtype: torch.dtype,
        latents: torch.Tensor | None,
    ) -> torch.Tensor:
        channels = self.unet.config.in_channels
        shape = (
            1 if same_noise_for_all_frames else num_frames,
            channels,
            height // self.vae_scale_factor,
            width // self.vae_scale_factor,
        )
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        latents = latents.to(device=device, dtype=dtype).expand(num_frames, -1, -1, -1).clone()
        return latents * self.scheduler.init_noise_sigma

    # -- the scheduler ------------------------------------------------------------------------

    def prepare_timesteps(
        self,
        num_inference_steps: int,
        device: torch.device,
        timesteps: list[int] | None,
        sigmas: list[float] | None,
    ) -> torch.Tensor:
        """``scheduler.set_timesteps`` with custom ``timesteps`` or ``sigmas`` where the scheduler takes them."""
        if timesteps is not None and sigmas is not None:
            raise ValueError("pass either `timesteps` or `sigmas`, not both")
        custom = (
            {"timesteps": timesteps}
            if timesteps is not None
            else {"sigmas": sigmas}
            if sigmas is not None
            else {}
        )
        for name in custom:
            if name not in inspect.signature(self.scheduler.set_timesteps).parameters:
                raise ValueError(
                    f"{type(self.scheduler).__name__} does not take custom `{name}`: leave them out or "
                    "choose a scheduler that does (e.g. DPMSolverMultistepScheduler, EulerDiscreteScheduler)"
                )
        if custom:
            self.scheduler.set_timesteps(device=device, **custom)
        else:
            self.scheduler.set_timesteps(num_inference_steps, device=device)
        return self.scheduler.timesteps

    def prepare_extra_step_kwargs(self, generator: torch.Generator | None, eta: float) -> dict[str, Any]:
        """``eta`` and ``generator`` for ``scheduler.step``, each only where the scheduler accepts it (as diffusers
        pipelines do): DDIM takes eta, ancestral and SDE samplers a generator, DPM-Solver++ or UniPC neither."""
        accepted = inspect.signature(self.scheduler.step).parameters
        extra = {}
        if "eta" in accepted:
            extra["eta"] = eta
        if "generator" in accepted:
            extra["generator"] = generator
        return extra

    # -- the sampler --------------------------------------------------------------------------

    def predict_noise(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        pose: torch.Tensor,
        prompt_embeds: torch.Tensor,
        appearance_control: bool,
        controlnet_conditioning_scale: float,
    ) -> torch.Tensor:
        """Guided epsilon for one batch of frames, reading the bank filled for timestep ``t``."""
        batch = latents.shape[0]
        context = prompt_embeds.expand(batch, -1, -1)
        down_res, mid_res = None, None
        if self.controlnet is not None:
            down_res, mid_res = self.controlnet(
                latents,
                t,
                encoder_hidden_states=context,
                controlnet_cond=pose,
                conditioning_scale=controlnet_conditioning_scale,
                return_dict=False,
            )
        with self.bank.reading() if appearance_control else nullcontext():
            eps_cond = self.unet(
                latents,
                t,
                encoder_hidden_states=context,
                down_block_additional_residuals=down_res,
                mid_block_additional_residual=mid_res,
                return_dict=False,
            )[0]
        if not self.do_classifier_free_guidance:
            return eps_cond
        # The unconditional branch is the plain frozen UNet: no bank, no pose (so no ControlNet pass).
        eps_uncond = self.unet(latents, t, encoder_hidden_states=context, return_dict=False)[0]
        return eps_uncond + self.guidance_scale * (eps_cond - eps_uncond)

    def sample_step(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        poses: torch.Tensor,
        prompt_embeds: torch.Tensor,
        appearance_control: bool,
        controlnet_conditioning_scale: float,
        frames_per_batch: int,
    ) -> torch.Tensor:
        """Guided noise prediction for every frame at timestep ``t`` (the bank already filled for ``t``).

        The UNet and ControlNet see the scheduler's scaled input (identity for DDIM/DPM-Solver/UniPC, the
        sigma scaling for Euler-type schedulers); the reference latent fed to the appearance UNet is clean
        and is not scaled.
        """
        device, dtype = latents.device, latents.dtype
        model_input = self.scheduler.scale_model_input(latents, t)
        noise_pred = torch.empty_like(latents)
        for start in range(0, latents.shape[0], frames_per_batch):
            stop = min(start + frames_per_batch, latents.shape[0])
            pose = poses[start:stop].to(device=device, dtype=dtype) / 255.0
            noise_pred[start:stop] = self.predict_noise(
                model_input[start:stop],
                t,
                pose,
                prompt_embeds,
                appearance_control,
                controlnet_conditioning_scale,
            )
        return noise_pred

    def sample_video(
        self,
        reference: torch.Tensor | None,
        poses: torch.Tensor,
        prompt_embeds: torch.Tensor,
        generator: torch.Generator | None,
        latents: torch.Tensor | None,
        num_inference_steps: int,
        timesteps: list[int] | None,
        sigmas: list[float] | None,
        eta: float,
        same_noise_for_all_frames: bool,
        appearance_control: bool,
        appearance_timestep: str,
        controlnet_conditioning_scale: float,
        frames_per_batch: int,
        callback_on_step_end,
        callback_on_step_end_tensor_inputs: list[str],
        progress_bar,
    ) -> torch.Tensor:
        """One video's denoising loop; ``reference`` holds its image (1, 3, H, W) in [-1, 1]. Returns latents."""
        device, dtype = self._execution_device, self.unet.dtype
        num_frames, height, width = poses.shape[0], poses.shape[2], poses.shape[3]
        timesteps = self.prepare_timesteps(num_inference_steps, device, timesteps, sigmas)  # resets its state
        self._num_timesteps = len(timesteps)
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)
        # The generator draws the initial noise first, then the reference's posterior sample, as the original.
        latents = self.prepare_latents(
            num_frames, height, width, same_noise_for_all_frames, generator, device, dtype, latents
        )
        reference_latents = (
            self.encode_pixels(reference, generator, device, dtype) if appearance_control else None
        )
        for i, t in enumerate(timesteps):
            if self.interrupt:
                continue
            if appearance_control and (appearance_timestep == "same" or i == 0):
                t_ref = t if appearance_timestep == "same" else torch.zeros_like(t)
                run_appearance_unet(self.appearance_unet, self.bank, reference_latents, t_ref, prompt_embeds)
            noise_pred = self.sample_step(
                latents,
                t,
                poses,
                prompt_embeds,
                appearance_control,
                controlnet_conditioning_scale,
                frames_per_batch,
            )
            latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[0]
            if callback_on_step_end is not None:
                step_tensors = {"latents": latents}
                callback_kwargs = {k: step_tensors[k] for k in callback_on_step_end_tensor_inputs}
                callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                latents = callback_outputs.pop("latents", latents)
            progress_bar.update()
        return latents

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput | list[ImageInput] = None,
        pose_images: Sequence[PoseImage] = None,
        prompt: str = "",
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        timesteps: list[int] | None = None,
        sigmas: list[float] | None = None,
        guidance_scale: float = 7.0,
        num_videos_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        controlnet_conditioning_scale: float = 1.0,
        frames_per_batch: int = 4,
        appearance_control: bool = True,
        appearance_timestep: str = "same",
        same_noise_for_all_frames: bool = True,
        callback_on_step_end: Callable[[Any, int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> MagicPosePipelineOutput | tuple:
        r"""Generate one frame per pose, in the appearance of the reference image: one video per reference
        and per ``num_videos_per_prompt``.

        Args:
            image: the reference image, or a list (or a stacked batch) of them for one video each, in
                diffusers' conventions: PIL, numpy (float in [0, 1], uint8), tensors (3, H, W) in [0, 1]
                (negative values: read as [-1, 1]); centre-cropped to the output aspect ratio, then resized.
            pose_images: one OpenPose map per frame, shared by every video (PIL, numpy, tensors, in the same
                ranges, or a :class:`magicpose.pose.PoseSequence`), cropped and resized like the reference.
            prompt: text for both branches; the original always uses "".
            height, width: output size, multiples of 8; default ``unet.config.sample_size * 8``.
            num_inference_steps: denoising steps (50 DDIM steps in the original).
            timesteps, sigmas: a custom schedule instead of ``num_inference_steps``, for schedulers whose
                ``set_timesteps`` takes one.
            guidance_scale: image classifier-free guidance ``s`` (7 in the original); ``<= 1`` turns it
                off and skips the unconditional pass.
            num_videos_per_prompt: videos per reference image, each from its own noise.
            eta: DDIM eta (0 in the original); passed only to schedulers whose ``step`` takes it.
            generator: seeds the initial noise, the reference posterior sample and a stochastic scheduler's
                noise; a list gives each video its own (video ``b`` then equals a one-video call with
                ``generator[b]``).
            latents: initial noise, shape ([videos,] 1 or F, 4, H/8, W/8).
            prompt_embeds: precomputed prompt embedding, replaces ``prompt``.
            output_type: "pil" (a list of videos, each a list of images), "np" (videos, frames, H, W, 3) in
                [0, 1], "pt" (videos, frames, 3, H, W) in [0, 1], or "latent" (videos, frames, 4, H/8, W/8).
            controlnet_conditioning_scale: weight of the pose residuals (1 in the original).
            frames_per_batch: frames per UNet/ControlNet call; also the VAE decode batch.
            appearance_control: False runs without the reference (a plain pose-ControlNet SD sampler).
            appearance_timestep: "same" feeds the current timestep to the appearance UNet (the original);
                "zero" computes the bank once per video at t=0, which needs weights trained that way.
            same_noise_for_all_frames: one initial noise for every frame (the original's choice, it
                steadies the video).
            callback_on_step_end: called as ``fn(pipe, i, t, {"latents": ...})`` after each step of each video;
                may return a dict with replaced ``latents``.

        Examples:
        """
        callback_on_step_end_tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        self.check_inputs(
            image,
            pose_images,
            height,
            width,
            frames_per_batch,
            appearance_timestep,
            latents,
            callback_on_step_end_tensor_inputs,
            num_videos_per_prompt,
        )
        if output_type not in ("pil", "np", "pt", "latent"):
            raise ValueError(f"output_type must be 'pil', 'np', 'pt' or 'latent', got {output_type!r}")
        references = reference_pixels(image, height, width)
        num_videos = references.shape[0] * num_videos_per_prompt
        if isinstance(generator, list) and len(generator) != num_videos:
            raise ValueError(f"a list of generators needs one per video ({num_videos}), got {len(generator)}")
        if latents is not None and latents.ndim == 5 and latents.shape[0] != num_videos:
            raise ValueError(f"latents hold {latents.shape[0]} videos, the call makes {num_videos}")
        self._guidance_scale = guidance_scale
        self._interrupt = False
        device = self._execution_device
        dtype = self.unet.dtype

        if prompt_embeds is None:
            (prompt_embeds,) = self.encode_prompt(prompt, device)
        prompt_embeds = prompt_embeds.to(device=device, dtype=dtype)
        poses = self.prepare_pose_images(pose_images, height, width)

        videos = []
        steps = len(
            self.prepare_timesteps(num_inference_steps, device, timesteps, sigmas)
        )  # for the progress bar
        with (
            self.progress_bar(total=num_videos * steps) as progress_bar,
            attached_reference_bank(self.appearance_unet, self.unet, self.bank),
        ):
            for b in range(num_videos):
                videos.append(
                    self.sample_video(
                        references[b // num_videos_per_prompt][None],
                        poses,
                        prompt_embeds,
                        generator[b] if isinstance(generator, list) else generator,
                        None if latents is None else latents[b] if latents.ndim == 5 else latents,
                        num_inference_steps,
                        timesteps,
                        sigmas,
                        eta,
                        same_noise_for_all_frames,
                        appearance_control,
                        appearance_timestep,
                        controlnet_conditioning_scale,
                        frames_per_batch,
                        callback_on_step_end,
                        callback_on_step_end_tensor_inputs,
                        progress_bar,
                    )
                )

        if output_type == "latent":
            frames = torch.stack(videos)
        else:
            frames = [self.decode_video(video, frames_per_batch, output_type) for video in videos]
            frames = (
                frames
                if output_type == "pil"
                else (np.stack(frames) if output_type == "np" else torch.stack(frames))
            )
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return MagicPosePipelineOutput(frames=frames)

    # -- decoding -----------------------------------------------------------------------------

    def decode_video(self, latents: torch.Tensor, frames_per_batch: int, output_type: str):
        """One video's latents (F, 4, h, w) as PIL images, an array (F, H, W, 3) or a tensor (F, 3, H, W)."""
        # "np" and "pil" end on the CPU anyway: move each decoded batch there at once, so the device
        # holds one batch of images, not the whole video. "pt" stays on the device, as in diffusers.
        keep_on = latents.device if output_type == "pt" else "cpu"
        decoded = [
            self.decode_latents(latents[s : s + frames_per_batch]).to(keep_on)
            for s in range(0, latents.shape[0], frames_per_batch)
        ]
        return self.image_processor.postprocess(torch.cat(decoded), output_type=output_type)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """VAE-decode a batch of latents to images in [-1, 1], shape (B, 3, H, W)."""
        latents = latents.to(self.vae.dtype) / self.vae.config.scaling_factor
        return self.vae.decode(latents, return_dict=False)[0]

    @torch.no_grad()
    def iter_frames(self, latents: torch.Tensor, batch_size: int = 4) -> Iterator[np.ndarray]:
        """Decode latents batch by batch into uint8 (H, W, 3) frames, for streaming to a writer.

        With ``output_type="latent"`` this keeps memory independent of the video length. ``latents`` is one
        video: (F, 4, h, w), or the pipeline's (1, F, 4, h, w).
        """
        if latents.ndim == 5:
            if latents.shape[0] != 1:
                raise ValueError(
                    f"iter_frames decodes one video at a time, got {latents.shape[0]}: pass latents[b]"
                )
            latents = latents[0]
        for start in range(0, latents.shape[0], batch_size):
            images = self.decode_latents(latents[start : start + batch_size])
            images = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
            yield from images.permute(0, 2, 3, 1).cpu().numpy()
