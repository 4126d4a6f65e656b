"""Pairing generated frames with ground-truth frames, video by video, before any metric runs.

Accepted layouts (frames are any of .png .jpg .jpeg .bmp .webp, in natural order: 2 before 10):

- ``magicpose infer-dataset`` output: ``GEN/<video>/gen_images/*`` beside ``GEN/<video>/gt_images/*``
  (then GT_DIR may be left out);
- a folder of videos: ``GEN/<video>/*`` and ``GT/<video>/*`` (``GT/<video>/gt_images`` also works);
- one video: ``GEN/*`` and ``GT/*``.

Frames are paired by file stem (DisCo asserts the same), so a missing or extra frame is an error rather
than a shift of every later pair. Sizes are read from the file headers of every pair up front: a
difference is an error unless ``resize`` is set (then the generated frame is resized to the ground
truth's size with bilinear filtering, as DisCo's scripts do).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from magicpose.errors import InputError
from magicpose.files import check_regular_file
from magicpose.pose.sequence import IMAGE_EXTENSIONS, SYSTEM_FILES, natural_sort_key

GEN_SUBFOLDER, GT_SUBFOLDER = "gen_images", "gt_images"  # what `magicpose infer-dataset` writes


@dataclass
class VideoPair:
    name: str
    gen: list[Path]
    gt: list[Path]
    gen_size: tuple[int, int]  # (width, height) of the generated frames
    gt_size: tuple[int, int]

    @property
    def resized(self) -> bool:
        return self.gen_size != self.gt_size


def _frames(folder: Path) -> list[Path]:
    files = [
        f
        for f in folder.iterdir()
        if not f.is_dir()
        and f.suffix.lower() in IMAGE_EXTENSIONS
        and not f.name.startswith(".")
        and f.name.lower() not in SYSTEM_FILES
    ]
    for f in files:  # a named pipe would block the read; a dropped one would shift the pairing
        check_regular_file(f, "frame", "remove it from the folder")
    return sorted(files, key=lambda f: natural_sort_key(f.name))


def _video_folders(root: Path, subfolder: str) -> dict[str, Path] | None:
    """``{video: frame folder}`` for a folder of video folders, None for a folder of frames."""
    if _frames(root):
        return None
    videos = {}
    for child in sorted(
        (c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".")),
        key=lambda c: natural_sort_key(c.name),
    ):
        inner = child / subfolder
        videos[child.name] = inner if inner.is_dir() else child
    return videos


def _holds_nothing(folder: Path) -> str:
    """How a folder without frames or video folders looks, for the error that names it."""
    visible = [
        f for f in folder.iterdir() if not f.name.startswith(".") and f.name.lower() not in SYSTEM_FILES
    ]
    kinds = " ".join(IMAGE_EXTENSIONS)
    return "is empty" if not visible else f"holds no frames ({kinds}) and no video folders"


def _empty_root(root: Path, what: str) -> InputError:
    fix = (
        "pass the folder holding the generated frames (`magicpose infer-dataset --output DIR` writes them to "
        "DIR/<video>/gen_images/)"
        if what == "generated folder"
        else "pass the folder holding the ground-truth frames"
    )
    return InputError(f"{what} '{root}' {_holds_nothing(root)}: {fix}")


def _check_folder(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{what} '{path}' does not exist: pass a folder of frames or of video folders")
    if not path.is_dir():
        raise InputError(
            f"{what} '{path}' is not a folder: pass a folder of frames or of video folders "
            "(extract a video's frames first)"
        )


def _size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"cannot read image '{path}' ({exc}): re-export it as PNG") from exc


def _pair_video(name: str, gen_dir: Path, gt_dir: Path, resize: bool) -> VideoPair:
    gen, gt = _frames(gen_dir), _frames(gt_dir)
    for frames, folder, what in ((gen, gen_dir, "generated"), (gt, gt_dir, "ground-truth")):
        if not frames:
            kinds = " ".join(IMAGE_EXTENSIONS)
            raise InputError(
                f"video '{name}': the {what} folder '{folder}' holds no frames ({kinds}): put the "
                f"video's {what} frames there, or evaluate folders without video '{name}'"
            )
    gen_stems, gt_stems = [f.stem for f in gen], [f.stem for f in gt]
    if gen_stems != gt_stems:
        only_gen = sorted(set(gen_stems) - set(gt_stems), key=natural_sort_key)
        only_gt = sorted(set(gt_stems) - set(gen_stems), key=natural_sort_key)
        which = (
            f"frame '{only_gen[0]}' is in '{gen_dir}' but not in '{gt_dir}'"
            if only_gen
            else f"frame '{only_gt[0]}' is in '{gt_dir}' but not in '{gen_dir}'"
            if only_gt
            else "frame names repeat with different extensions"
        )
        raise InputError(
            f"video '{name}': {which} ({len(gen)} generated vs {len(gt)} ground-truth frames): "
            "frames are paired by name, so both folders need the same frame names"
        )
    gen_size, gt_size = _size(gen[0]), _size(gt[0])
    for files, size in ((gen, gen_size), (gt, gt_size)):
        for f in files[1:]:
            if _size(f) != size:
                raise InputError(
                    f"video '{name}': '{f}' is {_wh(_size(f))} but '{files[0].name}' in the same "
                    f"folder is {_wh(size)}: all frames of a video must have one size"
                )
    if gen_size != gt_size and not resize:
        raise InputError(
            f"video '{name}': generated frames are {_wh(gen_size)} but the ground truth is "
            f"{_wh(gt_size)} ('{gen[0]}' vs '{gt[0]}'): pass --resize to resize generated frames to "
            "the ground truth's size (bilinear, as DisCo's scripts do)"
        )
    return VideoPair(name, gen, gt, gen_size, gt_size)


def _wh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def pair_folders(gen_dir, gt_dir=None, resize: bool = False) -> list[VideoPair]:
    """The videos of ``gen_dir`` paired with those of ``gt_dir`` (or with infer-dataset's gt_images)."""
    gen_root = Path(gen_dir)
    _check_folder(gen_root, "generated folder")
    if gt_dir is None:
        videos = _video_folders(gen_root, GEN_SUBFOLDER)
        if videos == {}:  # neither frames nor video folders: name that, not a missing ground truth
            raise _empty_root(gen_root, "generated folder")
        if videos is None or not any((gen_root / v / GT_SUBFOLDER).is_dir() for v in videos):
            raise InputError(
                f"'{gen_root}' is not `magicpose infer-dataset` output (no <video>/{GT_SUBFOLDER}/): "
                "pass the ground-truth folder as the second argument"
            )
        gt_videos = {v: gen_root / v / GT_SUBFOLDER for v in videos}
    else:
        gt_root = Path(gt_dir)
        _check_folder(gt_root, "ground-truth folder")
        videos, gt_videos = _video_folders(gen_root, GEN_SUBFOLDER), _video_folders(gt_root, GT_SUBFOLDER)
        for root, found, what in (
            (gen_root, videos, "generated folder"),
            (gt_root, gt_videos, "ground-truth folder"),
        ):
            if found == {}:  # neither frames nor video folders: say so, not that it holds the other kind
                raise _empty_root(root, what)
        if videos is None and gt_videos is None:  # one video each
            videos, gt_videos = {gen_root.name: gen_root}, {gen_root.name: gt_root}
        elif videos is None or gt_videos is None:
            flat, nested = (gen_root, gt_root) if videos is None else (gt_root, gen_root)
            raise InputError(
                f"'{flat}' holds frames but '{nested}' holds video folders: pass two folders of "
                "frames (one video) or two folders of video folders"
            )
    if not videos:
        raise _empty_root(gen_root, "generated folder")
    missing = [v for v in videos if v not in gt_videos]
    extra = [v for v in gt_videos if v not in videos]
    if missing or extra:
        raise InputError(
            f"video '{(missing or extra)[0]}' is in "
            f"'{gen_root if missing else gt_dir}' but not in '{gt_dir if missing else gen_root}' "
            f"({len(videos)} generated vs {len(gt_videos)} ground-truth videos): evaluate folders "
            "holding the same videos"
        )
    return [_pair_video(v, videos[v], gt_videos[v], resize) for v in videos]
