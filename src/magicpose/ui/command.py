"""``magicpose ui``: its arguments and start-up, importable without Gradio."""

from __future__ import annotations

import argparse
from pathlib import Path

from magicpose.errors import InputError


def add_ui_parser(sub) -> argparse.ArgumentParser:
    from magicpose.cli import DTYPES
    from magicpose.pose.extract import BACKENDS, DEFAULT_BACKEND, WEIGHTS_ENV

    p = sub.add_parser("ui", help="a local web page: upload a photo and poses, watch the progress, download the video",
                       description="Start a local web page (Gradio, the [ui] extra) that runs magicpose infer.")
    p.add_argument("--weights", default=None, help="MagicPose weights folder (default: the embedded demo weights)")
    p.add_argument("--pose2vid-weights", default=None,
                   help="a pose2vid weights folder: offers the pose2vid generator beside MagicPose")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the "
                        "network, where anyone can run jobs and read files by path)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--output-dir", default=str(Path("outputs") / "ui"),
                   help="where every job's video, frames and previews are written (default: outputs/ui)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    p.add_argument("--dtype", choices=DTYPES, default=None, help="default: float16 on cuda, float32 elsewhere")
    p.add_argument("--pose-backend", choices=tuple(BACKENDS), default=DEFAULT_BACKEND,
                   help=f"pose extractor for driving videos (default: {DEFAULT_BACKEND})")
    p.add_argument("--pose-weights", default=None,
                   help=f"the pose extractor's weights folder (default: ${WEIGHTS_ENV}, else pretrained_weights/pose)")
    return p


def run_ui(args) -> int:
    from magicpose.files import check_writable
    from magicpose.ui.app import import_gradio, launch
    from magicpose.ui.jobs import UIConfig

    import_gradio()  # the install line, before anything else
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} must be between 1 and 65535")
    for flag, folder in (("--weights", args.weights), ("--pose2vid-weights", args.pose2vid_weights)):
        if folder is not None and not Path(folder).is_dir():
            raise InputError(f"{flag} '{folder}' is not a folder: pass the folder the weights were saved to")
    output_dir = Path(args.output_dir)
    check_writable(output_dir / "probe.mp4")
    config = UIConfig(weights=args.weights, pose2vid_weights=args.pose2vid_weights, output_dir=output_dir,
                      device=args.device, dtype=args.dtype, pose_backend=args.pose_backend,
                      pose_weights=args.pose_weights)
    print(f"magicpose ui: http://{args.host}:{args.port} (Ctrl+C stops it); outputs go to {output_dir}/")
    launch(config, host=args.host, port=args.port, block=True)
    return 0
