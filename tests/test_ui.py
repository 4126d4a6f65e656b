"""The web page's job layer without a browser: the page's job computes exactly what `magicpose infer` computes,
uploads become the CLI's inputs, Stop and errors leave nothing written, jobs queue, and the app module imports
without Gradio. The browser itself is driven in test_ui_browser.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from gan_runs import infer_frames
from PIL import Image

from magicpose import cli
from magicpose.errors import Cancelled, InputError
from magicpose.image_utils import center_crop_resize
from magicpose.infer import DEFAULT_DRIVING_VIDEO, InferOptions
from magicpose.pose import read_openpose_json
from magicpose.pose.extract import BACKENDS, PoseExtractor
from magicpose.tiny_models import make_mraa_pipeline
from magicpose.ui.jobs import JobForm, JobRunner, UIConfig, infer_options, pose_sheet, stack_rows
from magicpose.ui.uploads import DrivingSource, stage_driving_input
from magicpose.video import VideoWriter, video_info

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_data"
REFERENCE = EXAMPLE / "reference.png"
POSE_FILES = sorted((EXAMPLE / "poses").glob("*.png"))
SIZE = 32
FAST = {"steps": 2, "height": SIZE, "width": SIZE}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> JobRunner:
    """One runner for the module, as one page serves many jobs (the generator stays loaded)."""
    return JobRunner(
        UIConfig(output_dir=tmp_path_factory.mktemp("ui") / "outputs", device="cpu", dtype="float32")
    )


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def _run(runner: JobRunner, form: JobForm, **hooks):
    log: list[str] = []
    return runner.run(form, log=log.append, **hooks), log


# -- the page's job is the CLI's job --------------------------------------------------------------------------


def test_page_job_writes_what_magicpose_infer_writes(runner, tmp_path, capsys) -> None:
    events, sheets = [], []
    form = JobForm(str(REFERENCE), [str(p) for p in POSE_FILES], **FAST)
    out, log = _run(runner, form, progress=lambda *e: events.append(e), show_poses=sheets.append)
    cli_out = tmp_path / "cli.mp4"
    assert (
        cli.main(
            [
                "infer",
                "--image",
                str(REFERENCE),
                "--poses",
                str(EXAMPLE / "poses"),
                "--output",
                str(cli_out),
                "--steps",
                "2",
                "--height",
                str(SIZE),
                "--width",
                str(SIZE),
                "--device",
                "cpu",
                "--dtype",
                "float32",
            ]
        )
        == 0
    )
    page_frames, cli_frames = _pngs(out.frames_dir), _pngs(tmp_path / "cli_frames")
    assert len(page_frames) == len(POSE_FILES) == 16
    for page, ref in zip(page_frames, cli_frames, strict=True):
        np.testing.assert_array_equal(page, ref)
    info = video_info(out.video)
    assert (info["frames"], info["width"], info["height"], info["fps"]) == (
        16,
        SIZE,
        SIZE,
        pytest.approx(8.0),
    )
    assert out.preview_mp4.is_file() and out.preview_png.is_file()
    # progress: every denoising step, then every frame written, in order
    assert events == [(1, 2, "denoising"), (2, 2, "denoising")] + [(i, 16, "writing") for i in range(1, 17)]
    # the pose sheet: 8 of the 16 poses, as the generator sees them (cropped and resized), 4 px apart
    (sheet,) = sheets
    assert sheet.shape == (SIZE, 8 * SIZE + 7 * 4, 3)
    last = np.asarray(center_crop_resize(np.asarray(Image.open(POSE_FILES[-1]).convert("RGB")), SIZE, SIZE))
    np.testing.assert_array_equal(sheet[:, -SIZE:], last)
    assert "generating 16 frames at 32x32, 2 steps, guidance 7.0" in log
    assert any(line.startswith("note: demo weights") for line in log)  # told at every job, not only the first
    assert runner.history[-1].outcome == "done"


def test_example_poses_when_nothing_is_uploaded(runner) -> None:
    out, _ = _run(runner, JobForm(str(REFERENCE), None, "", **FAST))
    assert video_info(out.video)["frames"] == 16


def test_pose2vid_job_equals_the_cli(tmp_path, capsys) -> None:
    weights = REPO / "pretrained_weights" / "pose2vid_demo"
    page = JobRunner(UIConfig(output_dir=tmp_path / "page", pose2vid_weights=str(weights), device="cpu"))
    json_files = sorted((EXAMPLE / "pose_json").glob("*.json"))[:3]
    out, _ = _run(page, JobForm(str(REFERENCE), [str(p) for p in json_files], generator="pose2vid"))
    folder = tmp_path / "json"
    folder.mkdir()
    for p in json_files:
        shutil.copy(p, folder)
    assert (
        cli.main(
            [
                "infer",
                "--generator",
                "pose2vid",
                "--poses",
                str(folder),
                "--output",
                str(tmp_path / "cli.mp4"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    page_frames, cli_frames = _pngs(out.frames_dir), _pngs(tmp_path / "cli_frames")
    assert len(page_frames) == 3
    for a, b in zip(page_frames, cli_frames, strict=True):
        np.testing.assert_array_equal(a, b)


DRIVING = EXAMPLE / "driving"  # MRAA's default driving video: the example's frames of another dancer
DRIVING_FILES = sorted(DRIVING.glob("*.png"))


@pytest.fixture(scope="module")
def mraa_weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mraa") / "weights"
    make_mraa_pipeline(avd=True).save_pretrained(folder)
    return folder


def _mraa_page(folder: Path, weights: Path) -> JobRunner:
    # a pose extractor folder and alignment/smoothing on the form: the page must not pass them to MRAA,
    # whose infer job refuses them
    return JobRunner(
        UIConfig(
            output_dir=folder,
            mraa_weights=str(weights),
            device="cpu",
            dtype="float32",
            pose_weights=str(folder.parent),
        )
    )


@pytest.mark.parametrize("driving", ["example", "video", "frames"])
def test_mraa_job_equals_the_cli(tmp_path, mraa_weights, driving) -> None:
    """MRAA on the page: the example's driving frames when nothing is uploaded, an uploaded video, or uploaded
    frames ticked as a video's; stride and frame limit apply, and the frames are the CLI's, bit for bit."""
    page = _mraa_page(tmp_path / "page", mraa_weights)
    video = tmp_path / "dance.mp4"
    with VideoWriter(video, fps=10) as writer:
        for p in DRIVING_FILES[:6]:
            writer.write(np.asarray(Image.open(p).convert("RGB")))
    upload = {
        "example": {},
        "video": {"driving_files": [str(video)]},
        "frames": {"driving_files": [str(p) for p in DRIVING_FILES[:6]], "frames_are_video": True},
    }[driving]
    form = JobForm(
        str(REFERENCE),
        generator="mraa",
        mode="relative",
        stride=2,
        max_frames=3,
        align="none",
        smooth=False,
        **upload,
    )
    sheets: list[np.ndarray] = []
    events: list[tuple] = []
    out, log = _run(page, form, show_poses=sheets.append, progress=lambda *e: events.append(e))
    source = {"example": DRIVING, "video": video, "frames": DRIVING}[
        driving
    ]  # the frames: same files as uploaded
    cli_out = tmp_path / "cli.mp4"
    cli_frames = infer_frames(
        cli_out,
        "--image",
        str(REFERENCE),
        "--driving-video",
        str(source),
        "--mode",
        "relative",
        "--stride",
        "2",
        "--max-frames",
        "3",
        generator="mraa",
        weights=mraa_weights,
    )
    page_frames = _pngs(out.frames_dir)
    assert len(page_frames) == len(cli_frames) == 3
    for a, b in zip(page_frames, cli_frames, strict=True):
        np.testing.assert_array_equal(a, b)
    info = video_info(out.video)
    assert (info["frames"], info["width"], info["height"]) == (3, SIZE, SIZE)
    assert events == [(i, 3, "rendering") for i in range(1, 4)]
    assert any(line.startswith("driving: 3 frames from ") and "MRAA mode relative" in line for line in log)
    # the sheet: the three driving frames followed (0, 2 and 4 of the source), cropped and resized, 4 px apart
    (sheet,) = sheets
    assert sheet.shape == (SIZE, 3 * SIZE + 2 * 4, 3)
    from magicpose.pose.extract.frames import kept_frames

    followed = [frame for _, frame in kept_frames(source, 2, 3)[0]]
    for k, frame in enumerate(followed):
        tile = sheet[:, k * (SIZE + 4) : k * (SIZE + 4) + SIZE]
        np.testing.assert_array_equal(tile, np.asarray(center_crop_resize(frame, SIZE, SIZE)))
    # the preview: reference | driving frame | result, as the CLI writes it
    np.testing.assert_array_equal(
        np.asarray(Image.open(out.preview_png)), np.asarray(Image.open(tmp_path / "cli_preview.png"))
    )
    assert not Path(f"{out.video.with_suffix('')}_poses").exists()  # no poses extracted for MRAA


def test_mraa_refuses_pose_files_in_one_line(tmp_path, mraa_weights) -> None:
    page = _mraa_page(tmp_path / "page", mraa_weights)
    for upload in (
        {"driving_files": [str(p) for p in POSE_FILES[:3]]},
        {"driving_path": str(EXAMPLE / "poses")},
    ):
        with pytest.raises(InputError) as err:
            _run(page, JobForm(str(REFERENCE), generator="mraa", **upload))
        assert str(err.value) == (
            "MRAA follows a dance video's frames, not pose files: upload a video or its frames (tick 'the "
            "images are frames of a dance video'), or leave the driving input empty for the example's frames"
        )
    assert _files(tmp_path / "page") == [] and page.history[-1].outcome == "error"


def test_mraa_mode_reaches_mraa_only() -> None:
    """The mode box keeps its value when another generator is chosen: only MRAA's job takes it (the infer job
    refuses --mode for the others)."""
    config = UIConfig(mraa_weights="w")
    form = {"reference": str(REFERENCE), "mode": "standard", "align": "none"}
    mraa = infer_options(JobForm(**form, generator="mraa"), config, Path("o.mp4"), DrivingSource())
    other = infer_options(JobForm(**form), config, Path("o.mp4"), DrivingSource())
    assert (mraa.mode, mraa.align) == ("standard", InferOptions.align)
    assert mraa.driving_source == str(DEFAULT_DRIVING_VIDEO) and mraa.poses is None
    assert (other.mode, other.align) == (InferOptions.mode, "none")


class SamePerson(PoseExtractor):
    """Sees the example's reference person in every image: enough to run the driving-video route end to end."""

    name: ClassVar[str] = "same-person"
    weight_files: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_weights_dir(cls, weights_dir=None, device="cpu"):
        return cls()

    def __call__(self, image):
        return [read_openpose_json(EXAMPLE / "pose_json" / "0000_keypoints.json").people[0]]


def test_driving_video_job_shows_the_alignment_then_the_poses(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(BACKENDS, "same-person", SamePerson)
    video = tmp_path / "dance.mp4"
    with VideoWriter(video, fps=10) as writer:
        for _ in range(3):
            writer.write(np.asarray(Image.open(REFERENCE).convert("RGB")))
    page = JobRunner(UIConfig(output_dir=tmp_path / "out", device="cpu", pose_backend="same-person"))
    sheets = []
    out, log = _run(page, JobForm(str(REFERENCE), [str(video)], **FAST), show_poses=sheets.append)
    assert f"driving: 3 frames from '{video}' (3 with a person), smoothed, aligned: bones" in log
    assert video_info(out.video)["frames"] == 3 and video_info(out.video)["fps"] == pytest.approx(10.0)
    stem = out.video.with_suffix("")
    alignment = np.asarray(Image.open(f"{stem}_alignment.png"))
    assert len(list(Path(f"{stem}_poses", "pose_json").glob("*.json"))) == 3
    (sheet,) = sheets  # the alignment preview on top, then the 3 poses the generator follows
    np.testing.assert_array_equal(sheet[: alignment.shape[0], : alignment.shape[1]], alignment)
    assert sheet.shape == (alignment.shape[0] + 4 + SIZE, max(alignment.shape[1], 3 * SIZE + 2 * 4), 3)


def test_driving_video_options_show_only_with_the_pose_tools(tmp_path, monkeypatch) -> None:
    from magicpose.ui.app import pose_tools_missing

    monkeypatch.setitem(BACKENDS, "same-person", SamePerson)
    assert pose_tools_missing(UIConfig(pose_backend="same-person")) is None
    missing = pose_tools_missing(UIConfig(pose_backend="dwpose", pose_weights=str(tmp_path)))
    assert missing.startswith(
        f"the dwpose pose extractor needs yolox_l.onnx, dw-ll_ucoco_384.onnx in '{tmp_path}'"
    )


# -- Stop and errors leave nothing behind ---------------------------------------------------------------------


@pytest.mark.parametrize("stop_at", [(1, "denoising"), (3, "writing")])
def test_stop_leaves_no_file(runner, stop_at) -> None:
    before = _files(runner.config.output_dir)
    stop = threading.Event()

    def progress(done, total, stage):
        if (done, stage) == stop_at:
            stop.set()

    with pytest.raises(Cancelled, match="no output was written"):
        runner.run(
            JobForm(str(REFERENCE), None, **FAST),
            log=lambda line: None,
            progress=progress,
            should_stop=stop.is_set,
        )
    assert _files(runner.config.output_dir) == before  # no video, frames, preview or temporary
    assert runner.history[-1].outcome == "stopped"


def test_bad_upload_names_the_file_and_writes_nothing(runner, tmp_path) -> None:
    upload = tmp_path / "upload"
    upload.mkdir()
    files = [shutil.copy(p, upload) for p in POSE_FILES[:3]]
    Path(files[1]).write_bytes(b"not a png")
    before = _files(runner.config.output_dir)
    with pytest.raises(InputError) as err:
        _run(runner, JobForm(str(REFERENCE), [str(f) for f in files], **FAST))
    message = str(err.value)
    assert message.startswith(f"pose image '{POSE_FILES[1].name}' cannot be read")
    assert (
        "magicpose-ui-" not in message and "\n" not in message
    )  # the upload, not the page's temporary folder
    assert _files(runner.config.output_dir) == before
    assert runner.history[-1].outcome == "error"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 0}, "--steps 0 must be at least 1 (50 in the original)"),
        ({"steps": 2.5}, "steps must be a whole number, got 2.5"),
        ({"height": 36}, "height 36 is not a multiple of 8: use e.g. 32 or 40"),
        ({"reference": None}, "no reference photo: upload one (reload the page for the example)"),
        ({"generator": "pose2vid"}, "pose2vid needs its weights: start the page with --pose2vid-weights DIR"),
        ({"generator": "mraa"}, "mraa needs its weights: start the page with --mraa-weights DIR"),
        ({"driving_path": "/no/such/poses"}, "driving path '/no/such/poses' does not exist"),
    ],
)
def test_form_errors_are_the_cli_lines(runner, change, message) -> None:
    form = JobForm(**{"reference": str(REFERENCE), **FAST, **change})
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _run(runner, form)


def test_two_sessions_queue(runner) -> None:
    """Two pages generating at once: both finish, one after the other; Stop in one leaves the other alone."""
    handles = [runner.start(JobForm(str(REFERENCE), None, **FAST), session) for session in ("a", "b")]
    results = [list(h) for h in handles]
    assert [r[-1][0] for r in results] == ["done", "done"]
    first, second = sorted(runner.history[-2:], key=lambda r: r.started)
    assert second.started >= first.finished
    runner.stop("b")
    assert runner.token("b").is_set() and not runner.token("a").is_set()
    assert runner.new_token("b") is runner.token("b") and not runner.token("b").is_set()  # a new Generate


def test_a_bug_reaches_the_page_as_one_line(runner, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("magicpose.ui.jobs.generate_video", broken)
    kind, line = list(runner.start(JobForm(str(REFERENCE), None, **FAST), "c"))[-1]
    assert kind == "error"
    assert line == (
        "error: internal error (RuntimeError: boom); the terminal that runs magicpose ui shows the traceback"
    )


# -- uploads become the CLI's inputs --------------------------------------------------------------------------


def test_uploaded_pose_files_become_a_pose_folder(tmp_path) -> None:
    source = stage_driving_input([str(p) for p in POSE_FILES], "", tmp_path)
    assert source.video is None and source.poses == tmp_path / "driving"
    assert [p.read_bytes() for p in sorted(source.poses.iterdir())] == [p.read_bytes() for p in POSE_FILES]
    assert (
        source.readable(f"pose image '{source.poses / '0001.png'}' is bad") == "pose image '0001.png' is bad"
    )
    assert source.readable(f"pose folder '{source.poses}' is empty") == "pose folder 'the upload' is empty"


@pytest.mark.parametrize("nested", [True, False])
def test_a_zip_of_poses(tmp_path, nested) -> None:
    archive = tmp_path / "poses.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in POSE_FILES[:4]:
            zf.write(p, f"dance/{p.name}" if nested else p.name)
        zf.writestr("__MACOSX/._0000.png", b"resource fork")
    source = stage_driving_input([str(archive)], None, tmp_path / "work")
    assert source.poses == tmp_path / "work" / "driving" / ("dance" if nested else "")
    assert sorted(p.name for p in source.poses.iterdir()) == [p.name for p in POSE_FILES[:4]]


def test_a_zip_pointing_outside_is_refused(tmp_path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("poses/0000.png", POSE_FILES[0].read_bytes())
        zf.writestr("../escaped.png", b"x")
    with pytest.raises(InputError, match="zip 'evil.zip' holds '../escaped.png', which points outside"):
        stage_driving_input([str(archive)], None, tmp_path / "work")
    assert not (tmp_path / "escaped.png").exists() and _files(tmp_path / "work" / "driving") == []


def test_a_video_upload_is_the_driving_video(tmp_path) -> None:
    video = tmp_path / "dance.mp4"
    with VideoWriter(video) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
    assert stage_driving_input([str(video)], None, tmp_path).video == video
    assert stage_driving_input(None, str(video), tmp_path).video == video
    assert stage_driving_input(None, str(EXAMPLE / "poses"), tmp_path).poses == EXAMPLE / "poses"
    # frames of a dance video, as a folder on this machine or as uploaded images
    assert (
        stage_driving_input(None, str(EXAMPLE / "poses"), tmp_path, frames_are_video=True).video
        == EXAMPLE / "poses"
    )
    uploaded = stage_driving_input([str(POSE_FILES[0])], None, tmp_path / "w", frames_are_video=True)
    assert uploaded.video == tmp_path / "w" / "driving" and uploaded.poses is None


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["dance.mp4", "0000.png"], "'dance.mp4' is a video: upload it alone, not with 1 other file(s)"),
        (["notes.txt"], "'notes.txt' is neither a video"),
        (["a/0000.png", "b/0000.png"], "two uploaded files are named '0000.png'"),
    ],
)
def test_upload_mistakes(tmp_path, names, message) -> None:
    paths = []
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(POSE_FILES[0].read_bytes())
        paths.append(str(path))
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stage_driving_input(paths, None, tmp_path / "work")
    with pytest.raises(InputError, match="either as an upload or as a path"):
        stage_driving_input(paths, str(tmp_path), tmp_path / "work2")


def test_pose_sheet_spreads_over_the_sequence() -> None:
    poses = [np.full((10, 20, 3), i, np.uint8) for i in range(20)]
    sheet = pose_sheet(poses, 8, 8, count=3)
    assert sheet.shape == (8, 3 * 8 + 2 * 4, 3)
    assert [sheet[0, x, 0] for x in (0, 12, 24)] == [0, 10, 19]  # first, middle, last


def test_stack_rows_pads_to_the_widest() -> None:
    top, bottom = np.zeros((2, 3, 3), np.uint8), np.full((1, 5, 3), 7, np.uint8)
    stacked = stack_rows(top, bottom, gap=1)
    assert stacked.shape == (4, 5, 3)
    assert (stacked[:2, :3] == 0).all() and (stacked[:2, 3:] == 255).all() and (stacked[2] == 255).all()
    assert (stacked[3] == 7).all()


def _page_components(config: UIConfig) -> dict[str, dict]:
    """The props of the page's components, by label (elem_id where there is one)."""
    pytest.importorskip("gradio")
    from magicpose.ui.app import build_app

    demo = build_app(config, JobRunner(config))
    props = [c.get("props", {}) for c in demo.config["components"]]
    return {p.get("elem_id") or p.get("label"): p for p in props if p.get("elem_id") or p.get("label")}


def test_mraa_is_offered_only_with_its_weights() -> None:
    plain = _page_components(UIConfig())
    assert [c[0] for c in plain["Generator"]["choices"]] == ["magicpose"] and not plain["Generator"][
        "visible"
    ]
    both = _page_components(UIConfig(vid2vid_weights="v", mraa_weights="m"))
    assert [c[0] for c in both["Generator"]["choices"]] == ["magicpose", "vid2vid", "mraa"]
    assert both["Generator"]["visible"]
    mode = both["mraa-mode"]  # MRAA's modes, hidden until MRAA is chosen
    assert [c[0] for c in mode["choices"]] == ["standard", "relative", "avd"]
    assert (mode["value"], mode["visible"]) == (InferOptions.mode, False)
    assert both["steps"]["visible"] and both["Seed"]["visible"]  # the page opens on MagicPose, the sampler's


def test_choosing_mraa_shows_its_mode_and_names_driving_frames() -> None:
    from magicpose.ui.app import generator_view

    mraa, magicpose = generator_view("mraa", tools=True), generator_view("magicpose", tools=True)
    assert mraa["mode"] == {"visible": True} and magicpose["mode"] == {"visible": False}
    assert mraa["align"] == mraa["smooth"] == {"visible": False}  # they shape extracted poses: not MRAA's
    assert magicpose["align"] == {"visible": True} and generator_view("magicpose", False)["align"] == {
        "visible": False
    }
    for box in ("steps", "guidance", "seed"):  # the sampler's: only MagicPose draws noise
        assert magicpose[box] == {"visible": True}
        assert all(
            generator_view(g, True)[box] == {"visible": False} for g in ("pose2vid", "vid2vid", "mraa")
        )
    assert mraa["poses"]["label"].startswith("Driving frames MRAA follows")
    assert mraa["preview"]["label"] == "Reference | driving frame | result"
    assert magicpose["preview"]["label"] == "Reference | pose | result"


# -- without Gradio -------------------------------------------------------------------------------------------


def test_the_page_modules_import_without_gradio_and_the_command_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['gradio'] = None\n"  # as if Gradio were not installed
        "import magicpose.ui.app, magicpose.ui.jobs, magicpose.commands.ui\n"
        "from magicpose.cli import main\n"
        "sys.exit(main(['ui']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: the web page needs Gradio 6: pip install 'magicpose[ui]' (or pip install 'gradio>=6.31,<7')"
    ]
    assert done.stdout == ""


# -- the command ----------------------------------------------------------------------------------------------


def test_magicpose_ui_serves_the_page(tmp_path) -> None:
    """`magicpose ui` as a user starts it: it loads the weights, then answers on its port with the page."""
    pytest.importorskip("gradio")
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "magicpose.cli",
            "ui",
            "--port",
            str(port),
            "--output-dir",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page = None
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=1) as response:
                    page = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.2)
        assert page is not None and page["title"] == "MagicPose: animate a photo"
        ids = {c.get("props", {}).get("elem_id") for c in page["components"]}
        assert {
            "reference",
            "driving",
            "generate",
            "stop",
            "status",
            "poses",
            "result",
            "preview",
            "downloads",
        } <= ids
    finally:
        server.terminate()
        printed = server.communicate(timeout=60)[0]
    assert (
        f"magicpose ui: http://127.0.0.1:{port} (Ctrl+C stops it); outputs go to {tmp_path / 'out'}/"
        in printed
    )
    assert "loaded the MagicPose weights" in printed


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--weights", "/no/such/weights"], "error: --weights '/no/such/weights' is not a folder"),
        (["--port", "70000"], "error: --port 70000 must be between 1 and 65535"),
    ],
)
def test_magicpose_ui_bad_flags(flags, message, capsys) -> None:
    pytest.importorskip("gradio")
    assert cli.main(["ui", *flags]) == 2
    assert capsys.readouterr().err.startswith(message)
