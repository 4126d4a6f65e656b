"""The page's jobs, without Gradio: a form turned into the infer job's options (``InferOptions``), the generator kept loaded
between jobs, one job at a time, and Stop. ``app.py`` only lays this out in the browser."""

from __future__ import annotations

import datetime
import queue
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from magicpose.errors import Cancelled, InputError, first_line
from magicpose.infer import (
    DEFAULT_IMAGE,
    InferOptions,
    InferOutputs,
    Log,
    Progress,
    check_run_flags,
    generate_video,
    load_generator,
    output_size,
    prepare_inputs,
)
from magicpose.ui.uploads import DrivingSource, stage_driving_input

SHEET_POSES = 8  # pose maps (MRAA: driving frames) shown before generating


@dataclass
class UIConfig:
    """What ``magicpose ui`` was started with."""

    weights: str | None = None  # MagicPose weights (default: the embedded demo)
    pose2vid_weights: str | None = None  # offers the pose2vid generator when given
    vid2vid_weights: str | None = None  # offers the vid2vid generator when given
    mraa_weights: str | None = None  # offers the MRAA generator (driven by a dance video's frames) when given
    output_dir: Path = Path("outputs") / "ui"
    device: str | None = None
    dtype: str | None = None
    pose_backend: str = InferOptions.backend
    pose_weights: str | None = None  # the pose extractor's folder (driving videos)


@dataclass
class JobForm:
    """The page's form, in the page's own units (0 means "the default" for size and fps)."""

    reference: str | None
    driving_files: list[str] | None = None
    driving_path: str | None = None
    generator: str = InferOptions.generator
    steps: int = InferOptions.steps
    guidance_scale: float = InferOptions.guidance_scale
    seed: int = InferOptions.seed
    height: int = 0
    width: int = 0
    frames_per_batch: int = InferOptions.frames_per_batch
    fps: float = 0.0
    frames_are_video: bool = False
    align: str = InferOptions.align
    smooth: bool = InferOptions.smooth
    stride: int = InferOptions.stride
    max_frames: int = 0
    mode: str = InferOptions.mode  # MRAA's


@dataclass
class JobRecord:
    number: int
    started: float
    finished: float | None = None
    outcome: str = "running"  # "done", "stopped", "error"


def _whole(value, name: str) -> int:
    """A number box's value as an int, refusing 2.5 steps rather than rounding it silently."""
    if value is None or float(value) != int(float(value)):
        raise InputError(f"{name} must be a whole number, got {value}")
    return int(float(value))


def infer_options(form: JobForm, config: UIConfig, output: Path, driving: DrivingSource) -> InferOptions:
    """The infer job's options of a form (``InferOptions`` supplies every default the form does not set)."""
    if not form.reference:
        raise InputError("no reference photo: upload one (reload the page for the example)")
    weights = {
        "pose2vid": config.pose2vid_weights,
        "vid2vid": config.vid2vid_weights,
        "mraa": config.mraa_weights,
    }.get(form.generator, config.weights)
    if form.generator in ("pose2vid", "vid2vid", "mraa") and weights is None:
        raise InputError(
            f"{form.generator} needs its weights: start the page with --{form.generator}-weights DIR"
        )
    mraa = form.generator == "mraa"
    if mraa and driving.poses is not None:
        raise InputError(
            "MRAA follows a dance video's frames, not pose files: upload a video or its frames (tick 'the "
            "images are frames of a dance video'), or leave the driving input empty for the example's frames"
        )
    height, width = _whole(form.height, "height"), _whole(form.width, "width")
    video = {}
    if driving.video is not None or mraa:  # the page's frame options are a dance video's (for MRAA, also the
        # example's driving frames when nothing is uploaded); pose files are used as given
        video = {
            "stride": _whole(form.stride, "stride"),
            "max_frames": _whole(form.max_frames, "max frames") or None,
        }
    if (
        mraa
    ):  # MRAA follows the frames themselves: the options that shape extracted poses keep their defaults,
        # which the infer job requires of MRAA
        specific = {"mode": form.mode}
    else:
        specific = {
            "align": form.align,
            "smooth": bool(form.smooth),
            "backend": config.pose_backend,
            "weights_dir": config.pose_weights,
        }
    return InferOptions(
        image=form.reference,
        poses=None if driving.poses is None else str(driving.poses),
        driving_video=None if driving.video is None else str(driving.video),
        output=str(output),
        generator=form.generator,
        weights=weights,
        steps=_whole(form.steps, "steps"),
        guidance_scale=float(form.guidance_scale),
        seed=_whole(form.seed, "seed"),
        height=height or None,
        width=width or None,
        frames_per_batch=_whole(form.frames_per_batch, "frames per batch"),
        fps=float(form.fps) or None,
        device=config.device,
        dtype=config.dtype,
        **specific,
        **video,
    )


def pose_sheet(poses, height: int, width: int, count: int = SHEET_POSES) -> np.ndarray:
    """Up to ``count`` pose maps, evenly spread over the sequence, cropped and resized as the generator sees them,
    side by side with 4 px gaps."""
    from magicpose.image_utils import center_crop_resize

    picks = np.unique(np.linspace(0, len(poses) - 1, min(count, len(poses))).round().astype(int))
    tiles = [np.asarray(center_crop_resize(poses[int(i)], width, height)) for i in picks]
    gap = np.full((height, 4, 3), 255, np.uint8)
    row = [tiles[0]]
    for tile in tiles[1:]:
        row += [gap, tile]
    return np.concatenate(row, axis=1)


def driving_sheet(options: InferOptions, total: int, height: int, width: int, count: int = SHEET_POSES):
    """MRAA's sheet: up to ``count`` of the ``total`` driving frames it follows, evenly spread and laid out as
    :func:`pose_sheet` lays out poses. The frames are read again from ``options.driving_source``, so the
    iterator that generation reads is left untouched."""
    from magicpose.pose.extract.frames import kept_frames

    picks = set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())
    frames, _, _ = kept_frames(options.driving_source, options.stride, options.max_frames)
    chosen = []
    try:
        for i, (_, frame) in enumerate(frames):
            if i in picks:
                chosen.append(frame)
            if i >= max(picks):
                break
    finally:
        frames.close()  # a video's decoder, stopped at the last frame shown
    return pose_sheet(chosen, height, width, count=len(chosen))


def stack_rows(*rows: np.ndarray, gap: int = 4) -> np.ndarray:
    """Images one above the other, left-aligned on white, ``gap`` px apart."""
    width = max(r.shape[1] for r in rows)
    out = []
    for i, row in enumerate(rows):
        if i:
            out.append(np.full((gap, width, 3), 255, np.uint8))
        padded = np.full((row.shape[0], width, 3), 255, np.uint8)
        padded[:, : row.shape[1]] = row
        out.append(padded)
    return np.concatenate(out)


class JobRunner:
    """Runs the page's jobs one at a time (the queue also allows one), keeping each generator loaded.

    Stop works per browser session: :meth:`new_token` is called when Generate is clicked, :meth:`stop` sets the
    session's token, and the job checks it after every denoising step and frame.
    """

    def __init__(self, config: UIConfig) -> None:
        self.config = config
        self.history: list[JobRecord] = []
        self._pipes: dict[tuple, tuple[object, list[str]]] = {}
        self._tokens: dict[str, threading.Event] = {}
        self._lock = threading.Lock()  # one job at a time, even if a closed page's job is still finishing

    # -- Stop ----------------------------------------------------------------------------------------

    def new_token(self, session: str) -> threading.Event:
        token = threading.Event()
        self._tokens[session] = token
        return token

    def token(self, session: str) -> threading.Event:
        return self._tokens.get(session) or self.new_token(session)

    def stop(self, session: str) -> None:
        if session in self._tokens:
            self._tokens[session].set()

    def stop_all(self) -> None:
        """Stop every session's job (the page is closing)."""
        for token in list(self._tokens.values()):
            token.set()

    # -- a job ---------------------------------------------------------------------------------------

    def _output_path(self) -> Path:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.config.output_dir / f"ui-{stamp}-{len(self.history):03d}.mp4"
        while path.exists():  # a restarted page in the same second: never overwrite an earlier result
            path = path.with_name(f"{path.stem}-again.mp4")
        return path

    def preload(self, log: Log = print) -> None:
        """Load the MagicPose generator now rather than at the first job."""
        started = time.perf_counter()
        options = infer_options(
            JobForm(reference=str(DEFAULT_IMAGE)), self.config, self._output_path(), DrivingSource()
        )
        self._generator(options, lambda line: None)
        log(
            f"loaded the MagicPose weights '{options.weights_folder}' in {time.perf_counter() - started:.1f} s"
        )

    def _generator(self, options: InferOptions, log: Log):
        """The loaded pipeline, and its notes (demo weights...) told again at every job."""
        key = (options.generator, options.weights_folder, options.device, options.dtype)
        if key not in self._pipes:
            notes: list[str] = []
            self._pipes[key] = load_generator(options, notes.append), notes
        pipe, notes = self._pipes[key]
        for note in notes:
            log(note)
        return pipe

    def run(
        self,
        form: JobForm,
        log: Log,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        show_poses: Callable[[np.ndarray], None] | None = None,
    ) -> InferOutputs:
        """One whole job, waiting for any job still running: check the form, gather the driving input,
        extract/align its poses, load the generator, ``show_poses`` the sheet (MRAA: of driving frames), then
        generate and write.
        Errors a user can fix raise InputError naming the uploaded files; Stop raises Cancelled."""
        with self._lock, tempfile.TemporaryDirectory(prefix="magicpose-ui-") as workdir:
            record = JobRecord(len(self.history) + 1, time.time())
            self.history.append(record)
            driving = DrivingSource()
            try:
                driving = stage_driving_input(
                    form.driving_files, form.driving_path, Path(workdir), form.frames_are_video
                )
                options = infer_options(form, self.config, self._output_path(), driving)
                check_run_flags(options)
                inputs = prepare_inputs(options, log)
                pipe = self._generator(options, log)
                height, width = output_size(pipe, options, log)
                if show_poses is not None and options.mraa:  # the driving frames it follows, not poses
                    show_poses(driving_sheet(options, inputs.num_frames, height, width))
                elif show_poses is not None:
                    sheet = pose_sheet(inputs.poses, height, width)
                    if inputs.driving is not None:  # how the dancer's skeleton was fitted to the reference
                        sheet = stack_rows(inputs.driving.preview, sheet)
                    show_poses(sheet)
                outputs = generate_video(
                    pipe, height, width, inputs, options, log=log, progress=progress, should_stop=should_stop
                )
                record.outcome = "done"
                return outputs
            except InputError as err:
                record.outcome = "error"
                raise InputError(driving.readable(str(err))) from None
            except Cancelled:
                record.outcome = "stopped"
                raise
            except BaseException:
                record.outcome = "error"
                raise
            finally:
                record.finished = time.time()

    def start(self, form: JobForm, session: str) -> JobHandle:
        """:meth:`run` in a thread of its own, reporting through a queue: a page that is closed mid-job
        cannot leave a job half-done, and the page's handler stays free to show each event."""
        handle = JobHandle(self.token(session))
        handle.thread = threading.Thread(target=handle.work, args=(self, form), daemon=True)
        handle.thread.start()
        return handle


class JobHandle:
    """Events of a running job, in order: ("log", line), ("poses", sheet), ("progress", (done, total, stage)),
    then one of ("done", InferOutputs), ("stopped", line), ("error", line)."""

    def __init__(self, token: threading.Event) -> None:
        self.token = token
        self.events: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None

    def work(self, runner: JobRunner, form: JobForm) -> None:
        put = self.events.put
        try:
            outputs = runner.run(
                form,
                log=lambda line: put(("log", line)),
                progress=lambda done, total, stage: put(("progress", (done, total, stage))),
                should_stop=self.token.is_set,
                show_poses=lambda sheet: put(("poses", sheet)),
            )
            put(("done", outputs))
        except Cancelled as err:
            put(("stopped", f"stopped: {err}"))
        except InputError as err:
            put(("error", f"error: {err}"))
        except Exception as err:  # a bug: the page gets one line, the terminal the traceback
            traceback.print_exc()
            put(
                (
                    "error",
                    f"error: internal error ({type(err).__name__}: {first_line(err)}); the terminal that "
                    "runs magicpose ui shows the traceback",
                )
            )

    def __iter__(self) -> Iterator[tuple[str, object]]:
        while True:
            kind, value = self.events.get()
            yield kind, value
            if kind in ("done", "stopped", "error"):
                return
