"""What the page's driving input is: uploaded files, a zip, or a path on this machine, turned into the ``--poses``
or ``--driving-video`` the infer job takes. No Gradio here, so it is tested on its own."""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from magicpose.errors import InputError
from magicpose.pose.extract.frames import VIDEO_EXTENSIONS
from magicpose.pose.sequence import IMAGE_EXTENSIONS

POSE_FILE_EXTENSIONS = (*IMAGE_EXTENSIONS, ".json", ".npy")
MAX_ZIP_BYTES = 4 << 30  # uncompressed: a zip bomb is refused before anything is extracted


@dataclass
class DrivingSource:
    """Exactly one of ``poses`` and ``video`` is set, or neither (the example poses)."""

    poses: Path | None = None
    video: Path | None = None
    upload_dir: Path | None = None  # where uploads were gathered, to name them by file name in messages

    @property
    def description(self) -> str:
        if self.video is not None:
            return f"the driving video '{self.video.name}'"
        if self.poses is not None:
            return f"the poses in '{self.poses.name}'"
        return "the example poses"

    def readable(self, message: str) -> str:
        """An error message with the gathering folder replaced by what the user uploaded."""
        if self.upload_dir is None:
            return message
        return message.replace(f"{self.upload_dir}{os.sep}", "").replace(str(self.upload_dir), "the upload")


def _extract_zip(archive: Path, into: Path) -> Path:
    """Unpack ``archive`` into ``into`` and return the folder holding its files (its single top folder, if all
    the files are in one); refuses entries that would land outside ``into``."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [
                m
                for m in zf.infolist()
                if not m.is_dir()
                and not m.filename.startswith("__MACOSX/")
                and not PurePosixPath(m.filename).name.startswith(".")
            ]
            if not members:
                raise InputError(
                    f"zip '{archive.name}' holds no files: zip the pose maps or OpenPose JSON files"
                )
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise InputError(
                    f"zip '{archive.name}' unpacks to more than {MAX_ZIP_BYTES >> 30} GiB: "
                    "pass its folder as a path on this machine instead"
                )
            for m in members:
                parts = PurePosixPath(m.filename).parts
                if m.filename.startswith("/") or ".." in parts or ":" in parts[0]:
                    raise InputError(
                        f"zip '{archive.name}' holds '{m.filename}', which points outside the "
                        "archive: re-create the zip from the folder itself"
                    )
            for m in members:
                zf.extract(m, into)
    except zipfile.BadZipFile:
        raise InputError(
            f"'{archive.name}' is not a readable zip archive: re-create it, or upload the files themselves"
        ) from None
    tops = {PurePosixPath(m.filename).parts[0] for m in members}
    nested = all(len(PurePosixPath(m.filename).parts) > 1 for m in members)
    return into / tops.pop() if nested and len(tops) == 1 else into


def stage_driving_input(
    files: list[str] | None, path: str | None, workdir: Path, frames_are_video: bool = False
) -> DrivingSource:
    """The driving source of the uploaded ``files`` (a video, a zip, or pose maps / OpenPose JSON / one .npy) or
    of ``path`` (a video, a folder or a pose file on this machine); neither means the example poses.
    ``frames_are_video``: uploaded images (or a zip or folder of them) are the frames of a dance video, whose
    poses are to be extracted, rather than pose maps. Uploads are gathered in ``workdir``."""
    files = [Path(f) for f in (files or [])]
    path = (path or "").strip()
    if files and path:
        raise InputError("give the driving input either as an upload or as a path on this machine, not both")
    if path:
        source = Path(path).expanduser()
        if not source.exists():
            raise InputError(
                f"driving path '{source}' does not exist: give a video, a folder of pose maps or "
                "OpenPose JSON, or a .npy file on this machine"
            )
        if source.suffix.lower() in VIDEO_EXTENSIONS or (source.is_dir() and frames_are_video):
            return DrivingSource(video=source)
        if source.suffix.lower() == ".zip":
            files = [source]
        else:
            return DrivingSource(poses=source)
    if not files:
        return DrivingSource()

    videos = [f for f in files if f.suffix.lower() in VIDEO_EXTENSIONS]
    zips = [f for f in files if f.suffix.lower() == ".zip"]
    if (videos or zips) and len(files) > 1:
        kind = "video" if videos else "zip"
        raise InputError(
            f"'{(videos or zips)[0].name}' is a {kind}: upload it alone, not with "
            f"{len(files) - 1} other file(s)"
        )
    if videos:
        return DrivingSource(video=videos[0])
    upload = workdir / "driving"
    upload.mkdir(parents=True)
    if zips:
        folder = _extract_zip(zips[0], upload)
        return (
            DrivingSource(video=folder, upload_dir=upload)
            if frames_are_video
            else DrivingSource(poses=folder, upload_dir=upload)
        )
    unknown = [f for f in files if f.suffix.lower() not in POSE_FILE_EXTENSIONS]
    if unknown:
        raise InputError(
            f"'{unknown[0].name}' is neither a video ({', '.join(VIDEO_EXTENSIONS)}), a .zip, a pose "
            f"map image ({'/'.join(IMAGE_EXTENSIONS)}), OpenPose .json nor a .npy array: remove it"
        )
    seen: set[str] = set()
    for f in files:
        if f.name in seen:
            raise InputError(
                f"two uploaded files are named '{f.name}': rename one (frames are ordered by name)"
            )
        seen.add(f.name)
        shutil.copyfile(f, upload / f.name)
    if frames_are_video:
        return DrivingSource(video=upload, upload_dir=upload)
    if len(files) == 1 and files[0].suffix.lower() == ".npy":
        return DrivingSource(poses=upload / files[0].name, upload_dir=upload)
    return DrivingSource(poses=upload, upload_dir=upload)
