"""``magicpose infer-dataset``: generate every test video of a TikTok-layout dataset (``gen_images/``,
``gt_images/``, ``pose_maps/`` per video, what ``magicpose evaluate`` reads), on one process or shared among
several (``torchrun``, ``accelerate launch``: :mod:`magicpose.distributed`)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from magicpose.commands.infer_arguments import add_sampling_arguments
from magicpose.errors import InputError, print_error
from magicpose.files import (
    check_beside,
    check_not_input,
    check_replaceable,
    check_writable_folder,
    parents_removed_on_error,
)
from magicpose.infer import InferOptions, check_run_flags, count


def add_parser(subparsers) -> argparse.ArgumentParser:
    dataset = subparsers.add_parser(
        "infer-dataset", help="generate every test video of a TikTok-layout dataset"
    )
    dataset.add_argument(
        "--root", required=True, help="dataset root holding <split>_set/ and pose_map_<split>_set/"
    )
    dataset.add_argument(
        "--split", default="test", help="split name: reads <root>/<split>_set (default: test)"
    )
    dataset.add_argument(
        "--output", required=True, help="output folder: <output>/<video>/{gen,gt}_images, pose_maps"
    )
    dataset.add_argument("--max-videos", type=int, default=None, help="process at most this many videos")
    dataset.add_argument(
        "--max-frames", type=int, default=None, help="generate at most this many frames per video"
    )
    add_sampling_arguments(dataset)
    return dataset


DATASET_VIDEO_FOLDERS = ("gen_images", "gt_images", "pose_maps")


def _write_dataset_video(pipe, out, reference, targets, poses, latents, height, width, batch_size) -> None:
    """gen_images/, gt_images/ (the real frames, cropped like the output), pose_maps/, condition.png."""
    from magicpose.image_utils import center_crop_resize, load_image
    from magicpose.video import FrameFolderWriter, atomic_outputs, save_marked_png

    with parents_removed_on_error(out), atomic_outputs() as tmp:
        # each frame keeps its source frame's name (as PNG), so evaluation matches it to the ground truth
        with (
            FrameFolderWriter(tmp(out / "gen_images", kind="frames"), atomic=False) as gen,
            FrameFolderWriter(tmp(out / "gt_images", kind="frames"), atomic=False) as gt,
            FrameFolderWriter(tmp(out / "pose_maps", kind="frames"), atomic=False) as pose_dir,
        ):
            for i, frame in enumerate(pipe.iter_frames(latents, batch_size=batch_size)):
                name = Path(targets[i].image).stem + ".png"
                gen.write(frame, name)
                gt.write(center_crop_resize(load_image(targets[i].image), width, height), name)
                pose_dir.write(center_crop_resize(poses[i], width, height), name)
        save_marked_png(center_crop_resize(reference, width, height), tmp(out / "condition.png"))


def run(args: argparse.Namespace) -> int:
    """Every video of the split, or, as one of several processes (``torchrun``, ``accelerate launch``), this
    rank's share of them (``magicpose.distributed``): every rank first checks the whole run, then generates and
    writes only its own videos, each seeded by itself, so the files equal one process's."""
    from magicpose.distributed import rank_from_environ

    rank = rank_from_environ()
    try:
        return _infer_dataset(args, rank)
    except InputError as err:  # one line per failing rank, naming it
        if rank.several:
            raise InputError(f"{rank.prefix}{err}") from None
        raise


def _infer_dataset(args: argparse.Namespace, rank) -> int:
    from magicpose.data.layout import list_videos
    from magicpose.distributed import sigterm_interrupts
    from magicpose.infer import load_generator, output_size

    # the sampling flags; --max-frames here caps each video, not a driving video's extraction
    options = dataclasses.replace(InferOptions.from_namespace(args), max_frames=None)
    check_run_flags(options)
    for name, value in (("--max-videos", args.max_videos), ("--max-frames", args.max_frames)):
        if value is not None and value < 1:
            raise InputError(f"{name} {value} must be at least 1 (leave it out to process everything)")
    videos = list_videos(args.root, args.split)[: args.max_videos]
    for video in videos:  # checked before any work, not after generating the videos before it
        if len(video.frames) < 2:
            raise InputError(
                f"video folder '{video.image_dir}' has fewer than 2 frames: the first is the reference"
            )
    out_root = Path(args.output)
    check_writable_folder(out_root, "--output")
    inputs = [args.root, options.weights_folder]
    check_not_input(out_root, inputs, "--output", input_folders=inputs)
    _check_frames_open(videos, args.max_frames)  # every rank checks every video: all refuse before any work
    for video in videos:  # each video's folders may replace only an earlier infer-dataset output
        for folder in DATASET_VIDEO_FOLDERS:
            check_replaceable(out_root / video.name / folder, "--output", inputs, kind="frames")
        check_not_input(out_root / video.name / "condition.png", inputs, "--output")
        check_beside(out_root / video.name / "condition.png", out_root, "--output")
    options = dataclasses.replace(options, device=rank.device(options.device))
    mine = rank.shard(videos)
    if not mine:
        print(
            f"{rank.prefix}no video to generate ({count(len(videos), 'video')} for {rank.world_size} processes)"
        )
        return 0
    _use_device(options.device)
    if rank.local_rank != 0:  # one set of progress bars per node: its first process's
        _hide_loading_bars()
    pipe = load_generator(options, log=lambda line: print(rank.prefix + line))
    if rank.local_rank != 0:
        pipe.set_progress_bar_config(disable=True)
    height, width = output_size(pipe, options, log=lambda line: print(rank.prefix + line))
    done: list[str] = []
    try:
        # only the folders this rank made are removed on failure, and only when empty: never another rank's
        with sigterm_interrupts(), parents_removed_on_error(out_root):
            _generate_dataset(pipe, mine, out_root, height, width, args, options, rank, done)
    except KeyboardInterrupt:  # Ctrl+C, or the launcher stopping this rank because another failed
        kept = (
            (
                f"the video in progress was not written; {count(len(done), 'finished video')} kept in {out_root}: "
                f"{', '.join(done)}"
            )
            if done
            else "no output was written"
        )
        print_error(rank.prefix + kept, prefix="interrupted")
        return 130
    if rank.several:
        print(
            f"{rank.prefix}wrote {count(len(done), 'video')} to {out_root}: {', '.join(done)} (this rank's share "
            f"of {count(len(videos), 'video')})"
        )
    else:
        print(f"wrote {count(len(done), 'video')} to {out_root}")
    return 0


def _hide_loading_bars() -> None:
    """No 'Loading pipeline components' and 'Loading weights' bars from this process."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def _use_device(device: str | None) -> None:
    """Make ``cuda:N`` the current CUDA device, so that nothing of this rank lands on another rank's GPU 0."""
    if device and device.startswith("cuda:"):
        import torch

        torch.cuda.set_device(device)


def _check_frames_open(videos, max_frames: int | None) -> None:
    """Every frame and pose map that will be read opens as an image (its header, not its pixels): a bad file in
    the last video is named before the first is generated. A file damaged past its header still stops the run
    when it is read; the videos finished by then are kept, each complete."""
    from PIL import Image

    from magicpose.image_utils import IMAGE_READ_ERRORS

    for video in videos:
        for frame in video.frames[: max_frames + 1] if max_frames else video.frames:
            for path in (frame.image, frame.pose):
                try:
                    with Image.open(path):
                        pass
                except IMAGE_READ_ERRORS as exc:
                    raise InputError(
                        f"cannot read image '{path}' ({exc}): re-export it as PNG or JPEG, or remove "
                        "the frame and its pose map"
                    ) from None


def _generate_dataset(
    pipe, videos, out_root: Path, height: int, width: int, args, options: InferOptions, rank, done: list[str]
) -> None:
    """Generate and write ``videos``, appending each finished one's name to ``done``."""
    from tqdm.auto import tqdm

    from magicpose.image_utils import load_image
    from magicpose.infer import generate_latents, resize_note

    desc = f"videos (rank {rank.rank}/{rank.world_size})" if rank.several else "videos"
    for video in tqdm(videos, desc=desc, unit="video", disable=rank.local_rank != 0):
        frames = video.frames[: args.max_frames + 1] if args.max_frames else video.frames
        reference = load_image(frames[0].image)
        targets = frames[1:]
        poses = [np.asarray(load_image(f.pose)) for f in targets]
        note = resize_note(reference, poses[0], width, height)
        if note:
            print(rank.prefix + note)
        print(
            f"{rank.prefix}{video.name}: generating {count(len(poses), 'frame')} at {width}x{height}, "
            f"{options.steps} steps, guidance {options.guidance_scale}"
        )
        latents = generate_latents(pipe, reference, poses, height, width, options)
        _write_dataset_video(
            pipe,
            out_root / video.name,
            reference,
            targets,
            poses,
            latents,
            height,
            width,
            options.frames_per_batch,
        )
        done.append(video.name)
