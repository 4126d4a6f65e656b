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

from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, DiffusionPipeline, UNet2DConditionModel
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from magicpose.empty_prompt import (
    compute_empty_prompt_embeds,
    load_empty_prompt_embeds,
    save_empty_prompt_embeds,
)
from magicpose.image_utils import center_crop_resize
from magicpose.models.reference_attention import (
    ReferenceBank,
    install_reference_attention,
    run_appearance_unet,
)

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
        >>> frames = pipe(image=reference, pose_images=poses, generator=torch.Generator().manual_seed(42)).frames
        >>> frames[0].save("frame0.png")
        ```
"""

PoseImage = PIL.Image.Image | np.ndarray | torch.Tensor


@dataclass
class MagicPosePipelineOutput(BaseOutput):
    """Output of :class:`MagicPosePipeline`.

    Args:
        frames: the generated video, one entry per pose: a list of PIL images, a float array
            ``(F, H, W, 3)`` in [0, 1], a tensor ``(F, 3, H, W)`` in [0, 1], or latents ``(F, 4, h, w)``
            for ``output_type="latent"``.
    """

    frames: list[PIL.Image.Image] | np.ndarray | torch.Tensor


class MagicPosePipeline(DiffusionPipeline):
    r"""Pose retargeting with MagicPose: appearance control + pose ControlNet on a frozen SD UNet.

    Args:
        vae: the SD VAE, encodes the reference and decodes the frames.
        text_encoder: CLIP text encoder (the prompt is empty by default, as in the original); optional
            when the folder stores the empty-prompt embedding (``empty_prompt_embeds.safetensors``).
        tokenizer: CLIP tokenizer; optional: without it only the empty prompt works (its CLIP ids are known).
        unet: the frozen Stable Diffusion UNet.
        appearance_unet: a UNet of the same configuration whose self-attention inputs are injected
            into ``unet`` (its output head is never used).
        controlnet: the OpenPose ControlNet; ``None`` for a stage-1 (appearance only) model, whose
            frames then follow no pose.
        scheduler: DDIM configured as the original (see :meth:`default_scheduler`).
    """

    model_cpu_offload_seq = "text_encoder->appearance_unet->controlnet->unet->vae"
    _optional_components = ["controlnet", "tokenizer", "text_encoder"]
    _callback_tensor_inputs = ["latents"]

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel | None,
        tokenizer: CLIPTokenizer | None,
        unet: UNet2DConditionModel,
        appearance_unet: UNet2DConditionModel,
        controlnet: ControlNetModel | None,
        scheduler: DDIMScheduler,
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
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor)
        self.bank = ReferenceBank()
        self._attention_backend = "sdpa"
        self._install_bank()
        # CLIP embedding of "" (1, 77, dim), saved beside the components; used instead of the text encoder.
        self.empty_prompt_embeds: torch.Tensor | None = None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """``DiffusionPipeline.from_pretrained``, plus the stored empty-prompt embedding of a local folder."""
        pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        if Path(pretrained_model_name_or_path).is_dir():
            pipe.empty_prompt_embeds = load_empty_prompt_embeds(pretrained_model_name_or_path)
        return pipe

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        super().save_pretrained(save_directory, *args, **kwargs)
        if self.empty_prompt_embeds is not None:
            save_empty_prompt_embeds(self.empty_prompt_embeds, save_directory)

    def _install_bank(self) -> None:
        install_reference_attention(self.appearance_unet, self.bank, self._attention_backend, writer=True)
        install_reference_attention(self.unet, self.bank, self._attention_backend)

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
        self._attention_backend = "xformers"
        self._install_bank()

    def disable_xformers_memory_efficient_attention(self) -> None:
        super().disable_xformers_memory_efficient_attention()
        self._attention_backend = "sdpa"
        self._install_bank()

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
        shape = (self.unet.config.in_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        if latents is not None and (latents.ndim != 4 or tuple(latents.shape[1:]) != shape
                                    or latents.shape[0] not in (1, len(pose_images))):
            raise ValueError(f"latents must have shape (1 or {len(pose_images)}, {', '.join(map(str, shape))})")
        bad = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
        if bad:
            raise ValueError(f"callback_on_step_end_tensor_inputs {bad} not in {self._callback_tensor_inputs}")

    def encode_prompt(self, prompt: str, device: torch.device) -> torch.Tensor:
        """CLIP ``last_hidden_state`` of the prompt, shape (1, 77, dim)."""
        if prompt == "" and self.empty_prompt_embeds is not None:
            return self.empty_prompt_embeds.to(device)
        if self.text_encoder is None:
            raise ValueError("this pipeline has neither a text encoder nor a stored empty-prompt embedding: "
                             "pass prompt_embeds")
        if self.tokenizer is None:
            if prompt != "":
                raise ValueError("this pipeline has no tokenizer, so only the empty prompt works: pass prompt_embeds,"
                                 " or convert again with --tokenizer <a CLIP tokenizer folder>")
            return compute_empty_prompt_embeds(self.text_encoder).to(device)
        ids = self.tokenizer(
            prompt, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        ).input_ids
        return self.text_encoder(ids.to(device))[0]

    def prepare_pose_images(self, pose_images: Sequence[PoseImage], height: int, width: int) -> torch.Tensor:
        """Pose maps as one uint8 tensor (F, 3, H, W) kept on the CPU: 3·H·W bytes per frame."""
        out = torch.empty((len(pose_images), 3, height, width), dtype=torch.uint8)
        for i in range(len(pose_images)):
            pose = pose_images[i]
            if isinstance(pose, torch.Tensor):  # (3, H, W) in [0, 1]
                pose = (pose.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
            elif isinstance(pose, PIL.Image.Image):
                pose = np.asarray(pose.convert("RGB"))
            pose = center_crop_resize(np.asarray(pose, dtype=np.uint8), width, height)
            out[i] = torch.from_numpy(np.ascontiguousarray(pose)).permute(2, 0, 1)
        return out

    def encode_reference(
        self, image: PIL.Image.Image | np.ndarray | torch.Tensor, height: int, width: int,
        generator: torch.Generator | None, device: torch.device, dtype: torch.dtype,
    ) -> torch.Tensor:
        """Scaled VAE latent of the reference, a sample of the posterior as in the original."""
        if isinstance(image, torch.Tensor):  # (3, H, W) or (1, 3, H, W) in [-1, 1]
            pixels = image if image.ndim == 4 else image[None]
        else:
            if isinstance(image, np.ndarray):
                image = PIL.Image.fromarray(image)
            pixels = self.image_processor.preprocess(center_crop_resize(image.convert("RGB"), width, height))
        pixels = pixels.to(device=device, dtype=self.vae.dtype)
        latent = self.vae.encode(pixels).latent_dist.sample(generator)
        return (latent * self.vae.config.scaling_factor).to(dtype)

    def prepare_latents(
        self, num_frames: int, height: int, width: int, same_noise_for_all_frames: bool,
        generator: torch.Generator | None, device: torch.device, dtype: torch.dtype,
        latents: torch.Tensor | None,
    ) -> torch.Tensor:
        channels = self.unet.config.in_channels
        shape = (1 if same_noise_for_all_frames else num_frames, channels,
                 height // self.vae_scale_factor, width // self.vae_scale_factor)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        latents = latents.to(device=device, dtype=dtype).expand(num_frames, -1, -1, -1).clone()
        return latents * self.scheduler.init_noise_sigma

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
                latents, t, encoder_hidden_states=context, controlnet_cond=pose,
                conditioning_scale=controlnet_conditioning_scale, return_dict=False,
            )
        with self.bank.reading() if appearance_control else nullcontext():
            eps_cond = self.unet(
                latents, t, encoder_hidden_states=context, down_block_additional_residuals=down_res,
                mid_block_additional_residual=mid_res, return_dict=False,
            )[0]
        if not self.do_classifier_free_guidance:
            return eps_cond
        # The unconditional branch is the plain frozen UNet: no bank, no pose (so no ControlNet pass).
        eps_uncond = self.unet(latents, t, encoder_hidden_states=context, return_dict=False)[0]
        return eps_uncond + self.guidance_scale * (eps_cond - eps_uncond)

    @torch.no_grad()
    def __call__(
        self,
        image: PIL.Image.Image | np.ndarray | torch.Tensor = None,
        pose_images: Sequence[PoseImage] = None,
        prompt: str = "",
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.0,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
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
        r"""Generate one frame per pose, in the appearance of the reference image.

        Args:
            image: the reference image (PIL, uint8 array, or a tensor in [-1, 1]); centre-cropped to the
                output aspect ratio, then resized.
            pose_images: one OpenPose map per frame (PIL, uint8 arrays, tensors in [0, 1], or a
                :class:`magicpose.pose.PoseSequence`), cropped and resized like the reference.
            prompt: text for both branches; the original always uses "".
            height, width: output size, multiples of 8; default ``unet.config.sample_size * 8``.
            num_inference_steps: DDIM steps (50 in the original).
            guidance_scale: image classifier-free guidance ``s`` (7 in the original); ``<= 1`` turns it
                off and skips the unconditional pass.
            eta: DDIM eta (0 in the original).
            generator: seeds the initial noise and the reference posterior sample.
            latents: initial noise, shape (1 or F, 4, H/8, W/8).
            prompt_embeds: precomputed prompt embedding, replaces ``prompt``.
            output_type: "pil", "np", "pt" or "latent".
            controlnet_conditioning_scale: weight of the pose residuals (1 in the original).
            frames_per_batch: frames per UNet/ControlNet call; also the VAE decode batch.
            appearance_control: False runs without the reference (a plain pose-ControlNet SD sampler).
            appearance_timestep: "same" feeds the current timestep to the appearance UNet (the original);
                "zero" computes the bank once per video at t=0, which needs weights trained that way.
            same_noise_for_all_frames: one initial noise for every frame (the original's choice, it
                steadies the video).
            callback_on_step_end: called as ``fn(pipe, i, t, {"latents": ...})`` after each step; may
                return a dict with replaced ``latents``.

        Examples:
        """
        callback_on_step_end_tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        self.check_inputs(image, pose_images, height, width, frames_per_batch, appearance_timestep, latents,
                          callback_on_step_end_tensor_inputs)
        self._guidance_scale = guidance_scale
        self._interrupt = False
        device = self._execution_device
        dtype = self.unet.dtype
        num_frames = len(pose_images)

        if prompt_embeds is None:
            prompt_embeds = self.encode_prompt(prompt, device)
        prompt_embeds = prompt_embeds.to(device=device, dtype=dtype)
        poses = self.prepare_pose_images(pose_images, height, width)

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        latents = self.prepare_latents(num_frames, height, width, same_noise_for_all_frames, generator, device,
                                       dtype, latents)
        reference_latents = None
        if appearance_control:
            reference_latents = self.encode_reference(image, height, width, generator, device, dtype)

        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                if appearance_control and (appearance_timestep == "same" or i == 0):
                    t_ref = t if appearance_timestep == "same" else torch.zeros_like(t)
                    run_appearance_unet(self.appearance_unet, self.bank, reference_latents, t_ref, prompt_embeds)
                noise_pred = torch.empty_like(latents)
                for start in range(0, num_frames, frames_per_batch):
                    stop = min(start + frames_per_batch, num_frames)
                    pose = poses[start:stop].to(device=device, dtype=dtype) / 255.0
                    noise_pred[start:stop] = self.predict_noise(
                        latents[start:stop], t, pose, prompt_embeds, appearance_control,
                        controlnet_conditioning_scale,
                    )
                latents = self.scheduler.step(noise_pred, t, latents, eta=eta, generator=generator,
                                              return_dict=False)[0]
                if callback_on_step_end is not None:
                    step_tensors = {"latents": latents}
                    callback_kwargs = {k: step_tensors[k] for k in callback_on_step_end_tensor_inputs}
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                    latents = callback_outputs.pop("latents", latents)
                progress_bar.update()
        self.bank.clear()

        if output_type == "latent":
            frames = latents
        else:
            # "np" and "pil" end on the CPU anyway: move each decoded batch there at once, so the device
            # holds one batch of images, not the whole video. "pt" stays on the device, as in diffusers.
            keep_on_device = output_type == "pt"
            decoded = [self.decode_latents(latents[s:s + frames_per_batch]).to(
                       device if keep_on_device else "cpu") for s in range(0, num_frames, frames_per_batch)]
            frames = self.image_processor.postprocess(torch.cat(decoded), output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return MagicPosePipelineOutput(frames=frames)

    # -- decoding -----------------------------------------------------------------------------

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """VAE-decode a batch of latents to images in [-1, 1], shape (B, 3, H, W)."""
        latents = latents.to(self.vae.dtype) / self.vae.config.scaling_factor
        return self.vae.decode(latents, return_dict=False)[0]

    @torch.no_grad()
    def iter_frames(self, latents: torch.Tensor, batch_size: int = 4) -> Iterator[np.ndarray]:
        """Decode latents batch by batch into uint8 (H, W, 3) frames, for streaming to a writer.

        With ``output_type="latent"`` this keeps memory independent of the video length.
        """
        for start in range(0, latents.shape[0], batch_size):
            images = self.decode_latents(latents[start:start + batch_size])
            images = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
            yield from images.permute(0, 2, 3, 1).cpu().numpy()
