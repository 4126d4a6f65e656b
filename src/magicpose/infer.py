"""The infer job, shared by ``magicpose infer`` and the web page (``magicpose ui``).

It runs in phases so that the page can show what each one produced:

1. :func:`check_run_flags` then :func:`prepare_inputs`: the reference image and the pose sequence (a pose folder,
   OpenPose JSON or .npy, or a driving video whose poses are extracted, smoothed and aligned). Every flag is
   checked before any model is loaded.
2. :func:`load_generator` and :func:`output_size`: the MagicPose, pose2vid, vid2vid or MRAA pipeline (the page
   keeps it loaded between jobs). MRAA is driven by the driving video's frames, not by poses.
3. :func:`generate_video`: denoise (or render) and write the video, its frames and previews together and
   atomically, reporting progress and, when asked to stop, leaving nothing written.

Options come as one :class:`InferOptions` (the CLI builds it from ``magicpose infer``'s flags, the page from its
form), which holds every default once and is never changed by the job; the CLI and the page check it with the
same one-line errors. Messages go through ``log``: ``print`` for the CLI, the status box for the page.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from magicpose.devices import check_device
from magicpose.errors import Cancelled, InputError
from magicpose.files import (
    check_beside,
    check_not_input,
    check_replaceable,
    check_writable,
    parents_removed_on_error,
)
from magicpose.pose.driving import DEFAULT_ALIGN, DEFAULT_FPS
from magicpose.pose.extract import DEFAULT_BACKEND
from magicpose.pose.smooth import BETA, MIN_CUTOFF

# The example and the demo weights are package data, so the main job runs from any install (in a checkout,
# example_data/ and pretrained_weights/demo* are links to these folders).
ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_IMAGE = ASSETS / "example_data" / "reference.png"
DEFAULT_POSES = ASSETS / "example_data" / "poses"
DEFAULT_POSE2VID_POSES = ASSETS / "example_data" / "pose_json"  # keypoints: the face enhancer finds the head
DEFAULT_WEIGHTS = ASSETS / "pretrained_weights" / "demo"
DEFAULT_POSE2VID_WEIGHTS = ASSETS / "pretrained_weights" / "pose2vid_demo"
DEFAULT_OUTPUT = Path("outputs") / "demo.mp4"
DEFAULT_POSE2VID_OUTPUT = Path("outputs") / "pose2vid_demo.mp4"
DEFAULT_VID2VID_WEIGHTS = ASSETS / "pretrained_weights" / "vid2vid_demo"
DEFAULT_VID2VID_OUTPUT = Path("outputs") / "vid2vid_demo.mp4"
DEFAULT_MRAA_WEIGHTS = ASSETS / "pretrained_weights" / "mraa_demo"
DEFAULT_MRAA_OUTPUT = Path("outputs") / "mraa_demo.mp4"
DEFAULT_DRIVING_VIDEO = (
    ASSETS / "example_data" / "driving"
)  # frames of another dancer in the example's motion
GENERATORS = ("magicpose", "pose2vid", "vid2vid", "mraa")
MRAA_MODES = ("standard", "relative", "avd")
MRAA_MODE_NOTES = {
    "standard": "the driving regions as they are",
    "relative": "the reference's regions moved as the driver's moved since its first frame",
    "avd": "the reference's shape in the driver's pose",
}
# flags that only shape the poses extracted from a driving video: MRAA follows the video's frames instead
POSE_ONLY_FLAGS = (
    "align",
    "reference_pose",
    "normalize_to",
    "backend",
    "weights_dir",
    "person",
    "smooth",
    "min_cutoff",
    "beta",
)
# the person-specific GAN generators: no reference image, frames rendered one after another
SEQUENTIAL = ("pose2vid", "vid2vid")
DTYPES = ("float32", "float16", "bfloat16")
MAX_SEED = 2**64 - 1  # torch.Generator.manual_seed takes 64 bits
MAX_SIDE = 8192
MAX_GUIDANCE = 100.0  # far past any useful scale: beyond it the latents grow until the frames are black
MIN_FPS, MAX_FPS = 0.01, 1000.0  # what an mp4 time base holds (1/fps as a fraction with denominator <= 1001)

Log = Callable[[str], None]
# progress(done, total, stage), counted within the stage: "denoising" (steps, MagicPose), then "writing" (frames
# decoded and written); pose2vid and vid2vid have one stage, "rendering" (frames generated and written)
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class InferOptions:
    """Everything one infer job follows, each default written here once (``magicpose infer``'s flags, the web
    page's form and ``infer-dataset`` take theirs from this class). ``None`` means "the default for the
    generator" or "the model's own" (size), resolved by the properties below."""

    image: str = str(DEFAULT_IMAGE)
    poses: str | None = None  # pose maps, OpenPose JSON or .npy
    driving_video: str | None = None  # instead of poses: a video or frame folder whose poses are extracted
    output: str | None = None  # the mp4; frames and previews go beside it
    generator: str = "magicpose"
    weights: str | None = None
    # sampling
    steps: int = 50  # DDIM steps, as the original
    guidance_scale: float = 7.0  # image classifier-free guidance, as the original
    seed: int = 42  # the original's
    height: int | None = None
    width: int | None = None
    frames_per_batch: int = 4
    appearance_timestep: str = "same"
    device: str | None = None  # cuda when available
    dtype: str | None = None  # float16 on cuda, float32 elsewhere
    xformers: bool = False
    cpu_offload: bool = False
    vae_slicing: bool = False
    fps: float | None = None  # DEFAULT_FPS, or the driving video's rate / stride
    face_blend: str | None = None  # pose2vid: what the weights record
    mode: str = "avd"  # MRAA: how the driving regions reach the source (standard, relative, avd)
    normalize_to: str | None = None
    # a driving video's poses
    align: str = DEFAULT_ALIGN
    reference_pose: str | None = None
    backend: str = DEFAULT_BACKEND
    weights_dir: str | None = None
    person: str = "one"
    stride: int = 1
    max_frames: int | None = None
    smooth: bool = True
    min_cutoff: float = MIN_CUTOFF
    beta: float = BETA

    @classmethod
    def from_namespace(cls, namespace) -> InferOptions:
        """The options a parsed command line holds (flags it does not have keep their defaults)."""
        return cls(**{f.name: getattr(namespace, f.name) for f in fields(cls) if hasattr(namespace, f.name)})

    @property
    def pose2vid(self) -> bool:
        return self.generator == "pose2vid"

    @property
    def sequential(self) -> bool:
        """A person-specific GAN generator (pose2vid, vid2vid): the reference image is only shown."""
        return self.generator in SEQUENTIAL

    @property
    def mraa(self) -> bool:
        """MRAA: the reference image moved as the driving video moves, frame by frame (no poses)."""
        return self.generator == "mraa"

    @property
    def driving_source(self) -> str | None:
        """The driving video: ``driving_video``, else for MRAA the example's frames."""
        return self.driving_video or (str(DEFAULT_DRIVING_VIDEO) if self.mraa else None)

    @property
    def weights_folder(self) -> str:
        """``weights``, else the generator's embedded demo weights."""
        demos = {
            "pose2vid": DEFAULT_POSE2VID_WEIGHTS,
            "vid2vid": DEFAULT_VID2VID_WEIGHTS,
            "mraa": DEFAULT_MRAA_WEIGHTS,
        }
        return self.weights or str(demos.get(self.generator, DEFAULT_WEIGHTS))

    @property
    def pose_source(self) -> str | None:
        """``poses``, else the example's (pose maps; OpenPose JSON for pose2vid, whose face enhancer finds the
        head in the keypoints); None with a driving video, and for MRAA."""
        if self.driving_video is not None or self.mraa:
            return self.poses
        return self.poses or str(DEFAULT_POSE2VID_POSES if self.pose2vid else DEFAULT_POSES)

    @property
    def output_path(self) -> Path:
        default = {
            "pose2vid": DEFAULT_POSE2VID_OUTPUT,
            "vid2vid": DEFAULT_VID2VID_OUTPUT,
            "mraa": DEFAULT_MRAA_OUTPUT,
        }
        return Path(self.output or default.get(self.generator, DEFAULT_OUTPUT))


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# -- checks before any work -----------------------------------------------------------------------------


def check_run_flags(options: InferOptions) -> None:
    """Every sampling flag that can be wrong is checked before any model is loaded, each with one line."""

    from magicpose.image_utils import check_size

    if options.fps is not None and not (math.isfinite(options.fps) and MIN_FPS <= options.fps <= MAX_FPS):
        raise InputError(
            f"--fps {options.fps:g} must be a number of frames per second from {MIN_FPS:g} to {MAX_FPS:g} "
            "(8 by default)"
        )
    if not (math.isfinite(options.guidance_scale) and options.guidance_scale <= MAX_GUIDANCE):
        raise InputError(
            f"--guidance-scale {options.guidance_scale:g} must be a number up to {MAX_GUIDANCE:g} (7 in the "
            "original; 1 or less turns the guidance off)"
        )
    if not 0 <= options.seed <= MAX_SEED:
        raise InputError(
            f"--seed {options.seed} must be between 0 and {MAX_SEED} (a 64-bit seed; 42 in the original)"
        )
    if options.steps < 1:
        raise InputError(f"--steps {options.steps} must be at least 1 (50 in the original)")
    if options.steps > 1000:
        raise InputError(
            f"--steps {options.steps} is more than the scheduler's 1000 training timesteps: use at most "
            f"1000 (50 in the original)"
        )
    if options.face_blend is not None and not options.pose2vid:
        raise InputError(
            "--face-blend is for pose2vid's face enhancer: add --generator pose2vid, or drop the flag"
        )
    if options.mode not in MRAA_MODES:
        raise InputError(f"--mode '{options.mode}' must be one of {', '.join(MRAA_MODES)} (avd by default)")
    if options.mode != InferOptions.mode and not options.mraa:
        raise InputError("--mode is MRAA's: add --generator mraa, or drop the flag")
    if options.mraa and options.poses is not None:
        raise InputError(
            "MRAA is driven by a video, not by poses: pass --driving-video VIDEO_OR_FOLDER instead of --poses"
        )
    if options.mraa:
        changed = [f for f in POSE_ONLY_FLAGS if getattr(options, f) != getattr(InferOptions, f)]
        if changed:
            flag = changed[0].replace("_", "-")
            raise InputError(
                f"--{flag if flag != 'smooth' else 'no-smooth'} shapes extracted poses; MRAA follows the "
                "driving video's frames: drop the flag"
            )
    if options.frames_per_batch < 1:
        raise InputError(f"--frames-per-batch {options.frames_per_batch} must be at least 1 (4 by default)")
    for name in ("height", "width"):
        value = getattr(options, name)
        if value is not None and value < 8:
            raise InputError(f"--{name} {value} must be a positive multiple of 8")
        if value is not None and value > MAX_SIDE:
            raise InputError(
                f"--{name} {value} is more than {MAX_SIDE} pixels: use a smaller size (the model's own "
                "is 512 for SD 1.5)"
            )
    if (options.height is None) != (options.width is None):
        raise InputError("pass both --height and --width, or neither to use the size of the weights")
    if options.height is not None:
        check_size(options.height, options.width)
    if options.xformers:
        import importlib.util

        if importlib.util.find_spec("xformers") is None:
            raise InputError(
                "--xformers: xformers is not installed: pip install 'magicpose[xformers]', or leave "
                "out --xformers for PyTorch's scaled-dot-product attention"
            )
    if options.cpu_offload and device_and_dtype(options)[0] == "cpu":
        raise InputError(
            "--cpu-offload moves models to a GPU while they run: pass --device cuda, or drop the flag"
        )
    if options.device is not None:
        check_device(options.device)


def check_extraction_flags(options) -> None:
    """The driving-video extraction flags (of ``infer`` and ``extract-poses``): stride, max_frames, min_cutoff,
    beta."""
    if options.stride < 1:
        raise InputError(f"--stride {options.stride} must be at least 1")
    if options.max_frames is not None and options.max_frames < 1:
        raise InputError(
            f"--max-frames {options.max_frames} must be at least 1 (leave it out for every frame)"
        )
    for name in ("min_cutoff", "beta"):
        value = getattr(options, name)
        if not math.isfinite(value) or value < 0 or (name == "min_cutoff" and value == 0):
            raise InputError(f"--{name.replace('_', '-')} {value:g} must be a positive number")


# -- the generator --------------------------------------------------------------------------------------


def device_and_dtype(options: InferOptions):
    import torch

    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = options.dtype or ("float16" if device.startswith("cuda") else "float32")
    return device, getattr(torch, name)


def load_generator(options: InferOptions, log: Log = print):
    """The pipeline of ``options.generator`` from ``options.weights_folder``."""
    from magicpose.weights import (
        load_mraa_pipeline,
        load_pipeline,
        load_pose2vid_pipeline,
        load_vid2vid_pipeline,
        weights_description,
    )

    device, dtype = device_and_dtype(options)
    weights = options.weights_folder
    if options.pose2vid:
        pipe = load_pose2vid_pipeline(weights, device=device, dtype=dtype)
    elif options.generator == "vid2vid":
        pipe = load_vid2vid_pipeline(weights, device=device, dtype=dtype)
    elif options.mraa:
        pipe = load_mraa_pipeline(weights, device=device, dtype=dtype)
        if options.mode == "avd" and pipe.avd_network is None:
            raise InputError(
                f"--mode avd needs the AVD network, which the MRAA weights '{weights}' lack (train it with "
                "train-mraa --mode train_avd): pass --mode relative or --mode standard"
            )
    else:
        pipe = load_pipeline(weights, device="cpu" if options.cpu_offload else device, dtype=dtype)
        if options.cpu_offload:
            pipe.enable_model_cpu_offload(device=device)
        if options.vae_slicing:
            pipe.vae.enable_slicing()
        if options.xformers:
            try:
                pipe.enable_xformers_memory_efficient_attention()
            except ImportError as err:  # the message says what to install
                raise InputError(f"--xformers: {err}") from None
    note = weights_description(weights)
    if note:
        log(f"note: {note}")
    return pipe


def output_size(pipe, options: InferOptions, log: Log = print) -> tuple[int, int]:
    """(height, width): the flags', else the size the weights were trained at; the GAN generators' multiple
    checked."""
    frame_by_frame = pipe if options.mraa else pipe.generator if options.sequential else None
    if frame_by_frame is not None:
        native = frame_by_frame.default_size
    else:
        side = pipe.unet.config.sample_size * pipe.vae_scale_factor
        native = (side, side)
    height, width = (options.height, options.width) if options.height is not None else native
    ratios = (height / native[0], width / native[1])
    if max(ratios) > 2 or min(ratios) < 0.5:  # the 64 px demo at 512 px gives noise: say so up front
        log(
            f"warning: {width}x{height} is far from the {native[1]}x{native[0]} these weights were trained at; "
            f"expect noise (leave out --height and --width to use their size)"
        )
    if frame_by_frame is not None:
        multiple = frame_by_frame.size_multiple
        if height % multiple or width % multiple:
            raise InputError(
                f"--height and --width must be multiples of {multiple} for these "
                f"{options.generator} weights, got {height}x{width}"
            )
        if min(height, width) < 2 * multiple:  # the innermost layer normalises over at least 2x2 pixels
            raise InputError(
                f"--height and --width must be at least {2 * multiple} for these "
                f"{options.generator} weights, got {height}x{width}"
            )
    return height, width


def generate_latents(pipe, reference, poses, height: int, width: int, options: InferOptions, on_step=None):
    """MagicPose's denoising loop; ``on_step(pipe, i, t, tensors)`` is the pipeline's step callback."""
    import torch

    return pipe(
        image=reference,
        pose_images=poses,
        height=height,
        width=width,
        num_inference_steps=options.steps,
        guidance_scale=options.guidance_scale,
        generator=torch.Generator().manual_seed(options.seed),
        frames_per_batch=options.frames_per_batch,
        appearance_timestep=options.appearance_timestep,
        output_type="latent",
        callback_on_step_end=on_step,
    ).frames[0]


def check_finite_latents(latents, options: InferOptions) -> None:
    """Refuse to write black frames: latents that overflowed to nan/inf (a huge --guidance-scale, float16 range)
    would be decoded and written as if they were a result."""
    import torch

    if not bool(torch.isfinite(latents).all()):
        dtype = str(latents.dtype).removeprefix("torch.")
        raise InputError(
            f"the sampler's latents became nan or inf (--guidance-scale {options.guidance_scale:g}, "
            f"{dtype}): lower --guidance-scale (7 in the original), or use --dtype float32; nothing "
            "was written"
        )


def resize_note(reference, first_pose: np.ndarray, width: int, height: int) -> str | None:
    if (first_pose.shape[1], first_pose.shape[0]) == reference.size and (width, height) == reference.size:
        return None
    divisor = math.gcd(width, height)
    return (
        f"resize: reference {reference.width}x{reference.height} and poses "
        f"{first_pose.shape[1]}x{first_pose.shape[0]} are centre-cropped to "
        f"{width // divisor}:{height // divisor} and resized to {width}x{height}"
    )


def blank_frames_warning(blank: list[int]) -> str | None:
    if not blank:
        return None
    shown = ", ".join(str(i) for i in blank[:8]) + (", ..." if len(blank) > 8 else "")
    return (
        f"warning: {count(len(blank), 'pose frame')} hold no person on the canvas (frame {shown}): their "
        f"output comes from a blank pose"
    )


# -- the inputs -----------------------------------------------------------------------------------------


class DrivingInput:
    """A driving video's poses, and how to write them beside the output."""

    def __init__(self, prepared) -> None:
        from magicpose.pose import PoseSequence

        self.prepared = prepared
        self.fps = prepared.fps
        self.sequence = PoseSequence.from_poses(prepared.final, prepared.names, "<driving video>")

    @property
    def preview(self) -> np.ndarray:
        """Reference with its skeleton | first driving pose before | after alignment."""
        return self.prepared.preview

    def write(self, tmp, stem: Path) -> None:
        from magicpose.pose.extract.frames import write_pose_folder
        from magicpose.video import save_marked_png

        p = self.prepared
        folder = tmp(Path(f"{stem}_poses"), kind="poses")
        write_pose_folder(p.final, p.names, folder)  # what the generator followed
        write_pose_folder(
            p.raw, p.names, folder / "extracted"
        )  # as extracted, before smoothing and alignment
        save_marked_png(p.preview, tmp(Path(f"{stem}_alignment.png")))


def driving_poses(options: InferOptions, reference, log: Log = print) -> DrivingInput:
    from magicpose.pose import read_openpose_json
    from magicpose.pose.driving import prepare_driving_poses
    from magicpose.pose.extract import load_extractor
    from magicpose.pose.extract.frames import check_frame_source

    if options.poses is not None:
        raise InputError("pass either --poses or --driving-video, not both")
    check_extraction_flags(options)
    reference_pose = normalize_to = None
    if options.reference_pose is not None:
        reference_pose = read_openpose_json(options.reference_pose, reference.width, reference.height)
    if options.normalize_to is not None:
        from magicpose.pose import load_pose_sequence

        if options.align != "none":
            raise InputError("--normalize-to replaces the alignment: pass --align none with it")
        target = load_pose_sequence(options.normalize_to, width=reference.width, height=reference.height)
        if not target.has_keypoints:
            raise InputError(
                f"--normalize-to '{options.normalize_to}' holds pose maps: it needs keypoints "
                "(OpenPose JSON or a keypoint .npy)"
            )
        normalize_to = [target.pose(i) for i in range(len(target))]
    check_frame_source(options.driving_video)  # the input's own problems first, then the extractor's files
    extractor = load_extractor(options.backend, options.weights_dir, device="cpu")
    prepared = prepare_driving_poses(
        options.driving_video,
        np.asarray(reference),
        extractor,
        reference_pose=reference_pose,
        align=options.align,
        smooth=options.smooth,
        stride=options.stride,
        max_frames=options.max_frames,
        person=options.person,
        smooth_options={"min_cutoff": options.min_cutoff, "beta": options.beta},
        normalize_to=normalize_to,
    )
    seen = sum(1 for f in prepared.raw if f.people)
    fitted = (
        f"normalised to '{options.normalize_to}'" if normalize_to is not None else f"aligned: {options.align}"
    )
    log(
        f"driving: {count(len(prepared.raw), 'frame')} from '{options.driving_video}' ({seen} with a person), "
        f"{'smoothed, ' if options.smooth else ''}{fitted}"
    )
    return DrivingInput(prepared)


def check_outputs(output: Path, options: InferOptions) -> None:
    """Before any work: the video, its previews, its frames folder (and a driving video's poses and alignment
    preview) replace only the program's own earlier outputs, never an input or a folder holding one, and never
    a folder holding files the program did not write there (``magicpose.files.check_replaceable``)."""
    inputs = [
        options.image,
        options.pose_source,
        options.driving_source,
        options.reference_pose,
        options.normalize_to,
        options.weights_folder,
    ]
    frames_dir, preview_mp4, preview_png = output_paths(output)
    stem = output.with_suffix("")
    written_files, folders = [output, preview_mp4, preview_png], [frames_dir]
    kinds = {frames_dir: "frames"}
    if options.driving_video is not None and not options.mraa:  # the extracted poses, saved beside the video
        written_files.append(Path(f"{stem}_alignment.png"))
        folders.append(Path(f"{stem}_poses"))
        kinds[folders[-1]] = "poses"
    for path in [*written_files, *folders]:
        check_writable(path if path in written_files else path / "000000.png")  # e.g. names too long
    for path in [*written_files, *folders]:  # never inside a pose folder, a folder of frames or the weights
        check_not_input(path, (), "--output", input_folders=inputs)
    for path in written_files:
        check_not_input(path, inputs, "--output")
        if path != output:  # the previews beside it replace only magicpose's own earlier ones
            check_beside(path, output, "--output")
    for folder in folders:
        check_replaceable(folder, "--output", inputs, kind=kinds[folder])


@dataclass
class DrivingFrames:
    """MRAA's driving video: its kept frames, read one at a time as the generator takes them."""

    frames: object  # iterator of (name, RGB frame)
    count: int


@dataclass
class PreparedInputs:
    """What the generator will follow, checked and loaded: the page shows the poses before generating."""

    reference: object  # PIL image
    poses: object  # PoseSequence; None for MRAA, which follows `frames`
    driving: DrivingInput | None
    fps: float
    output: Path
    frames: DrivingFrames | None = None

    @property
    def num_frames(self) -> int:
        return self.frames.count if self.frames is not None else len(self.poses)


def prepare_inputs(options: InferOptions, log: Log = print) -> PreparedInputs:
    from magicpose.image_utils import load_image
    from magicpose.pose import load_pose_sequence

    if options.driving_source is None:
        for flag, value, default in (
            ("--stride", options.stride, InferOptions.stride),
            ("--max-frames", options.max_frames, InferOptions.max_frames),
        ):
            if value != default:
                raise InputError(
                    f"{flag} applies to --driving-video only: leave it out with --poses (or pick the "
                    "pose files to use)"
                )
    output = options.output_path
    if output.suffix.lower() != ".mp4":
        raise InputError(f"output '{output}' must end in .mp4 (frames and preview are written beside it)")
    check_writable(output)
    check_outputs(output, options)
    reference = load_image(options.image, "reference image")
    if options.mraa:
        return driving_frames(options, reference, output, log)
    driving = None
    if options.driving_video is not None:
        driving = driving_poses(options, reference, log)
        poses = driving.sequence
    else:
        poses = load_pose_sequence(options.pose_source, width=reference.width, height=reference.height)
    fps = options.fps or (driving.fps if driving is not None and driving.fps else DEFAULT_FPS)
    if poses.ignored:
        log(f"ignored: {', '.join(poses.ignored)} in '{options.pose_source}' (hidden or system files)")
    if poses.has_keypoints:  # no person at all, or only keypoints off the canvas: nothing would be drawn
        from magicpose.pose import pose_is_visible

        no_person = [i for i in range(len(poses)) if not pose_is_visible(poses.pose(i))]
        if no_person:
            log(blank_frames_warning(no_person))
    if options.normalize_to is not None and driving is None:  # a driving video was normalised already
        from magicpose.pose import normalize_pose_sequence

        target = load_pose_sequence(options.normalize_to, width=reference.width, height=reference.height)
        poses = normalize_pose_sequence(poses, target)
        log(
            f"normalize: {len(poses)} driving poses mapped onto the scale and floor of '{options.normalize_to}'"
        )
    return PreparedInputs(reference, poses, driving, fps, output)


def driving_frames(options: InferOptions, reference, output: Path, log: Log = print) -> PreparedInputs:
    """MRAA's inputs: the driving video's kept frames (counted, not yet read)."""
    from magicpose.pose.extract.frames import kept_frames

    check_extraction_flags(options)
    frames, total, fps = kept_frames(options.driving_source, options.stride, options.max_frames)
    if total is None or total == 0:
        raise InputError(f"driving video '{options.driving_source}' has no frames to follow")
    log(f"driving: {count(total, 'frame')} from '{options.driving_source}', MRAA mode {options.mode}")
    return PreparedInputs(
        reference, None, None, options.fps or fps or DEFAULT_FPS, output, DrivingFrames(frames, total)
    )


# -- generating and writing ------------------------------------------------------------------------------


@dataclass
class InferOutputs:
    video: Path
    frames_dir: Path
    preview_mp4: Path
    preview_png: Path
    num_frames: int
    seconds: float  # from the first denoising step to the last file written


def output_paths(output: Path) -> tuple[Path, Path, Path]:
    """The frames folder and the two previews written beside ``output``."""
    stem = output.with_suffix("")
    return Path(f"{stem}_frames"), Path(f"{stem}_preview.mp4"), Path(f"{stem}_preview.png")


def generate_video(
    pipe,
    height: int,
    width: int,
    inputs: PreparedInputs,
    options: InferOptions,
    *,
    log: Log = print,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> InferOutputs:
    """Generate every frame and write the video, its frames, the reference | pose | output previews (and a driving
    video's poses) together: all appear on success, none on failure or when ``should_stop()`` turns true, which
    is checked after every denoising step and every frame (raising :class:`~magicpose.errors.Cancelled`)."""
    from tqdm.auto import tqdm

    from magicpose.image_utils import center_crop_resize
    from magicpose.video import (
        FrameFolderWriter,
        VideoWriter,
        atomic_outputs,
        make_preview_frame,
        write_preview_grid,
    )

    reference, poses, output = inputs.reference, inputs.poses, inputs.output
    stopped = should_stop or (lambda: False)
    report = progress or (lambda done, total, stage: None)
    num_frames = inputs.num_frames
    note = None if options.mraa else resize_note(reference, poses[0], width, height)
    if note:
        log(note)
    shown: list[np.ndarray] = []  # MRAA: the driving frame of the frame being written, the preview's middle

    started = time.perf_counter()
    if options.pose2vid:  # autoregressive: each frame is generated as it is written
        log(
            f"generating {count(num_frames, 'frame')} at {width}x{height} with pose2vid (each from the "
            f"previous one)"
        )
        keypoints = [poses.pose(i) for i in range(num_frames)] if poses.has_keypoints else None
        if pipe.face_enhancer is not None and keypoints is None:
            log(
                "note: the face enhancer is skipped: it finds the head from keypoints, and --poses holds pose "
                "maps (pass OpenPose JSON or a keypoint .npy)"
            )
        decoded = pipe.iter_frames(
            poses, height, width, pose_keypoints=keypoints, face_blend=options.face_blend
        )
        stage = "rendering"
    elif options.generator == "vid2vid":  # sequential, each frame warped from the ones before it
        log(
            f"generating {count(num_frames, 'frame')} at {width}x{height} with vid2vid (each warped from the "
            f"previous ones)"
        )
        decoded = pipe.iter_frames(poses, height, width)
        stage = "rendering"
    elif options.mraa:  # the reference moved as the driving video moves, frame by frame
        log(
            f"generating {count(num_frames, 'frame')} at {width}x{height} with MRAA ({options.mode} mode: "
            f"{MRAA_MODE_NOTES[options.mode]})"
        )

        def driving():
            for _, frame in inputs.frames.frames:
                shown[:] = [frame]
                yield frame

        decoded = pipe.iter_frames(reference, driving(), mode=options.mode, height=height, width=width)
        stage = "rendering"
    else:
        log(
            f"generating {count(num_frames, 'frame')} at {width}x{height}, {options.steps} steps, guidance "
            f"{options.guidance_scale}"
        )

        def on_step(pipeline, i, t, tensors):
            if stopped():
                pipeline._interrupt = True  # diffusers' way: the remaining steps are skipped
            else:
                report(i + 1, options.steps, "denoising")
            return tensors

        latents = generate_latents(pipe, reference, poses, height, width, options, on_step=on_step)
        if stopped():
            raise Cancelled("stopped before writing: no output was written")
        check_finite_latents(latents, options)
        decoded = pipe.iter_frames(latents, batch_size=options.frames_per_batch)
        stage = "writing"
    ref_small = np.asarray(center_crop_resize(reference, width, height))
    blank: list[int] = []
    preview_rows, preview_at = [], set(np.linspace(0, num_frames - 1, min(4, num_frames)).round().astype(int))
    frames_dir, preview_mp4, preview_png = output_paths(output)
    with parents_removed_on_error(output.parent), atomic_outputs() as tmp:
        if inputs.driving is not None:  # beside the output, to inspect and rerun with --poses
            inputs.driving.write(tmp, output.with_suffix(""))
        with (
            VideoWriter(tmp(output), fps=inputs.fps, atomic=False) as video,
            VideoWriter(tmp(preview_mp4), fps=inputs.fps, atomic=False) as preview,
            FrameFolderWriter(tmp(frames_dir, kind="frames"), atomic=False) as frames,
        ):
            for i, frame in enumerate(tqdm(decoded, total=num_frames, desc="writing", unit="frame")):
                if stopped():
                    raise Cancelled(f"stopped after {count(i, 'frame')}: no output was written")
                middle = shown[0] if options.mraa else poses[i]  # the driving frame, or the pose map
                if not options.mraa and not middle.any():
                    blank.append(i)
                pose = center_crop_resize(middle, width, height)
                row = make_preview_frame(ref_small, pose, frame)
                video.write(frame)
                frames.write(frame)
                preview.write(row)
                if i in preview_at:
                    preview_rows.append(row)
                report(i + 1, num_frames, stage)
        write_preview_grid(tmp(preview_png), preview_rows)
    if blank and not poses.has_keypoints:  # keypoint sources were checked up front
        log(blank_frames_warning(blank))
    return InferOutputs(
        output, frames_dir, preview_mp4, preview_png, num_frames, time.perf_counter() - started
    )
