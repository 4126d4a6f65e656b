"""The page of ``magicpose ui``: a Gradio app over :class:`~magicpose.ui.jobs.JobRunner`.

Gradio is imported inside the functions, so this module (and ``magicpose --help``) imports without the ``[ui]``
extra. Nothing is fetched from the internet: analytics and share links are off and the theme uses the system's
fonts instead of Google Fonts.
"""

# No `from __future__ import annotations`: Gradio reads the handlers' `gr.Request` annotations as objects.
import os
import time
from pathlib import Path

from magicpose.infer import DEFAULT_IMAGE, MRAA_MODE_NOTES, MRAA_MODES
from magicpose.pose.align import ALIGN_MODES
from magicpose.pose.driving import DEFAULT_FPS
from magicpose.ui.jobs import JobForm, JobRunner, UIConfig

INSTALL_HINT = "the web page needs Gradio 6: pip install 'magicpose[ui]' (or pip install 'gradio>=6.31,<7')"
TITLE = "MagicPose: animate a photo"
CSS = "#status textarea {font-family: ui-monospace, monospace; font-size: 13px}"


def import_gradio():
    """Gradio, with its analytics off before it is imported (it reads the variable at import)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio
    except ImportError:
        from magicpose.errors import InputError

        raise InputError(INSTALL_HINT) from None
    return gradio


def pose_tools_missing(config: UIConfig) -> str | None:
    """Why driving videos cannot be used (the extractor's missing-files line), or None when they can."""
    from magicpose.errors import InputError
    from magicpose.pose.extract import extractor_class

    try:
        extractor_class(config.pose_backend).check_weights(config.pose_weights)
    except InputError as err:
        return str(err)
    return None


def generator_view(generator: str, tools: bool) -> dict[str, dict]:
    """The properties of the page's boxes that follow the chosen ``generator``: MRAA's mode is shown for MRAA
    only, the sampler's steps, guidance and seed for MagicPose only (the GANs and MRAA draw no noise), the
    options that shape extracted poses (alignment, smoothing; shown with the pose extractor, ``tools``) for all
    but MRAA, and the sheet and the preview name what MRAA follows (driving frames, not poses)."""
    mraa, diffusion = generator == "mraa", generator == "magicpose"
    return {
        "mode": {"visible": mraa},
        "steps": {"visible": diffusion},
        "guidance": {"visible": diffusion},
        "seed": {"visible": diffusion},
        "align": {"visible": tools and not mraa},
        "smooth": {"visible": tools and not mraa},
        "poses": {
            "label": f"{'Driving frames MRAA' if mraa else 'Poses the generator'} follows (as it sees them)"
        },
        "preview": {"label": f"Reference | {'driving frame' if mraa else 'pose'} | result"},
    }


def build_app(config: UIConfig, runner: JobRunner | None = None):
    """The Blocks of the page; ``runner`` (default: a new one) is where its jobs run."""
    gr = import_gradio()
    runner = runner or JobRunner(config)
    missing_tools = pose_tools_missing(config)
    tools = missing_tools is None
    generators = (
        ["magicpose"]
        + (["pose2vid"] if config.pose2vid_weights else [])
        + (["vid2vid"] if config.vid2vid_weights else [])
        + (["mraa"] if config.mraa_weights else [])
    )
    videos = tools or bool(config.mraa_weights)  # MRAA follows a video's frames without the pose extractor
    view = generator_view(JobForm.generator, tools)  # as the page opens; then as the generator radio changes

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {TITLE}\nOne photo of a person and a sequence of poses in, a video of that person in those "
            "poses out. Everything runs on this machine."
        )
        with gr.Row():
            with gr.Column():
                reference = gr.Image(
                    value=str(DEFAULT_IMAGE),
                    type="filepath",
                    format="png",
                    image_mode="RGB",
                    sources=["upload"],
                    label="Reference photo",
                    elem_id="reference",
                    height=260,
                )
            with gr.Column():
                driving_files = gr.File(
                    file_count="multiple",
                    label="Driving poses: pose maps, OpenPose JSON, a .zip or .npy of them"
                    + (", or a dance video" if videos else "")
                    + " (empty: the example's 16 poses"
                    + (
                        "; for MRAA, a dance video only, empty: the example's driving frames"
                        if config.mraa_weights
                        else ""
                    )
                    + ")",
                    elem_id="driving",
                    height=180,
                )
                driving_path = gr.Textbox(
                    label="…or a path on this machine (a folder, video or pose file)",
                    elem_id="driving-path",
                    max_lines=1,
                )
                frames_are_video = gr.Checkbox(
                    False,
                    label="the images are frames of a dance video, not pose maps",
                    visible=videos,
                )
                if not tools:
                    gr.Markdown(
                        f"Driving videos need the pose extractor: {missing_tools}. Start the page with "
                        "--pose-weights DIR to use them."
                        + (" MRAA follows a dance video without it." if config.mraa_weights else "")
                    )
            with gr.Column():
                generator = gr.Radio(
                    generators, value=JobForm.generator, label="Generator", visible=len(generators) > 1
                )
                mode = gr.Radio(
                    list(MRAA_MODES),
                    value=JobForm.mode,
                    label="MRAA mode: " + "; ".join(f"{m}: {note}" for m, note in MRAA_MODE_NOTES.items()),
                    elem_id="mraa-mode",
                    **view["mode"],
                )
                steps = gr.Slider(
                    1,
                    100,
                    value=JobForm.steps,
                    step=1,
                    label="Steps (DDIM)",
                    elem_id="steps",
                    **view["steps"],
                )
                guidance = gr.Slider(
                    1,
                    15,
                    value=JobForm.guidance_scale,
                    step=0.5,
                    label="Guidance scale (1 = off)",
                    **view["guidance"],
                )
                seed = gr.Number(JobForm.seed, precision=0, label="Seed", **view["seed"])
                with gr.Accordion("Size and speed", open=False):
                    height = gr.Number(
                        JobForm.height, precision=0, label="Height (0: the size of the weights)"
                    )
                    width = gr.Number(JobForm.width, precision=0, label="Width (0: the size of the weights)")
                    frames_per_batch = gr.Slider(
                        1, 32, value=JobForm.frames_per_batch, step=1, label="Frames per batch"
                    )
                    fps = gr.Number(
                        JobForm.fps, label=f"Frames per second (0: {DEFAULT_FPS:g}, or the driving video's)"
                    )
                with gr.Accordion("Driving video", open=False, visible=videos):
                    align = gr.Radio(
                        list(reversed(ALIGN_MODES)),
                        value=JobForm.align,
                        label="Fit the dancer's skeleton to the reference's body",
                        **view["align"],
                    )
                    smooth = gr.Checkbox(
                        JobForm.smooth,
                        label="Smooth the keypoints over time (One-Euro)",
                        **view["smooth"],
                    )
                    stride = gr.Number(JobForm.stride, precision=0, label="Keep every N-th frame")
                    max_frames = gr.Number(
                        JobForm.max_frames, precision=0, label="At most this many frames (0: all)"
                    )
        with gr.Row():
            generate = gr.Button("Generate", variant="primary", elem_id="generate")
            stop = gr.Button("Stop", variant="stop", elem_id="stop")
        status = gr.Textbox(label="Status", lines=4, max_lines=12, interactive=False, elem_id="status")
        poses = gr.Image(
            **view["poses"],
            interactive=False,
            elem_id="poses",
            height=140,
        )
        with gr.Row():
            video = gr.Video(
                label="Result", interactive=False, elem_id="result", autoplay=True, loop=True, height=320
            )
            preview = gr.Image(
                **view["preview"],
                type="filepath",
                interactive=False,
                elem_id="preview",
                height=320,
            )
        downloads = gr.File(label="Download", file_count="multiple", interactive=False, elem_id="downloads")

        # the form's boxes under JobForm's field names: Gradio passes their values to run() by these names
        form_boxes = {
            "reference": reference,
            "driving_files": driving_files,
            "driving_path": driving_path,
            "generator": generator,
            "steps": steps,
            "guidance_scale": guidance,
            "seed": seed,
            "height": height,
            "width": width,
            "frames_per_batch": frames_per_batch,
            "fps": fps,
            "frames_are_video": frames_are_video,
            "align": align,
            "smooth": smooth,
            "stride": stride,
            "max_frames": max_frames,
            "mode": mode,
        }
        outputs = [status, poses, video, preview, downloads]

        def run(
            request: gr.Request,
            progress=gr.Progress(),  # noqa: B008 - Gradio's idiom
            **form_values,
        ):
            form = JobForm(**form_values)
            handle = runner.start(form, request.session_hash)
            lines: list[str] = []
            yield "", None, None, None, None
            finished = False
            try:
                for kind, value in handle:
                    if kind == "progress":
                        done, total, stage = value
                        unit = "step" if stage == "denoising" else "frame"
                        progress(done / total, desc=f"{stage}: {unit} {done} of {total}")
                        continue
                    if kind == "poses":
                        yield "\n".join(lines), value, None, None, None
                        continue
                    if kind == "done":
                        lines.append(
                            f"wrote {value.video} ({value.num_frames} frames) in {value.seconds:.1f} s"
                        )
                        finished = True
                        yield (
                            "\n".join(lines),
                            gr.skip(),
                            str(value.video),
                            str(value.preview_png),
                            [str(value.video), str(value.preview_mp4), str(value.preview_png)],
                        )
                        return
                    lines.append(str(value))
                    finished = kind in ("stopped", "error")
                    yield "\n".join(lines), gr.skip(), None, None, None
            finally:
                if not finished:  # Gradio cancelled the event mid-job: stop the job too
                    handle.token.set()

        def new_job(request: gr.Request) -> None:
            runner.new_token(request.session_hash)

        def stop_job(request: gr.Request) -> None:
            runner.stop(request.session_hash)

        shown = {
            "mode": mode,
            "steps": steps,
            "guidance": guidance,
            "seed": seed,
            "align": align,
            "smooth": smooth,
            "poses": poses,
            "preview": preview,
        }

        def show_generator(chosen: str):
            view = generator_view(chosen, tools)
            return [gr.update(**view[name]) for name in shown]

        generator.change(show_generator, generator, list(shown.values()), queue=False)
        generate.click(new_job, None, None, queue=False).then(
            run, outputs=outputs, inputs_kwargs=form_boxes, concurrency_limit=1, show_progress_on=[status]
        )
        stop.click(stop_job, None, None, queue=False)
        demo.unload(stop_job)  # a tab closed or reloaded mid-job: stop it rather than finish for no one
    return demo


def theme():
    gr = import_gradio()
    system = ["ui-sans-serif", "system-ui", "sans-serif"]  # not Google Fonts: nothing leaves this machine
    return gr.themes.Default(font=system, font_mono=["ui-monospace", "monospace"])


def launch(
    config: UIConfig,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    runner: JobRunner | None = None,
):
    """Start the page (loading the MagicPose weights first, so that the first Generate starts at once); with
    ``block=False`` return (demo, url, runner) and leave it serving in a thread."""
    config.output_dir.mkdir(parents=True, exist_ok=True)
    if runner is None:
        runner = JobRunner(config)
        runner.preload()
    demo = build_app(config, runner)
    demo.queue(default_concurrency_limit=1, max_size=32)
    # never Gradio's own blocking wait: it swallows Ctrl+C and exits 0, where every other command says 130
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        show_error=False,
        allowed_paths=[str(Path(config.output_dir).resolve())],
        prevent_thread_lock=True,
        theme=theme(),
        css=CSS,
        footer_links=["api", "settings"],
        run_history=False,
        quiet=not block,
    )
    if block:
        serve_until_stopped(demo, runner)
    return demo, url, runner


class PageStopped(KeyboardInterrupt):
    """Ctrl+C (or SIGTERM) while the page was serving, after the server was closed."""


def serve_until_stopped(demo, runner: JobRunner) -> None:
    """Wait for Ctrl+C; then stop the running job (it writes nothing half-done), close the server, and raise
    :class:`PageStopped`."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        runner.stop_all()
        demo.close()
        raise PageStopped from None
