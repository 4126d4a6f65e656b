"""``magicpose ui``: its arguments and start-up, importable without Gradio; the page itself is ``magicpose.ui``."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import ipaddress
import os
import re
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from magicpose.errors import InputError, print_error
from magicpose.files import remove_if_empty

if TYPE_CHECKING:
    from magicpose.ui.jobs import UIConfig


def add_parser(subparsers) -> argparse.ArgumentParser:
    from magicpose.commands.infer_arguments import (
        add_device_arguments,
        add_pose_extractor_arguments,
        defaulted,
    )
    from magicpose.ui.jobs import UIConfig

    p = subparsers.add_parser(
        "ui",
        help="a local web page: upload a photo and poses, watch the progress, download the video",
        description="Start a local web page (Gradio, the [ui] extra) that runs magicpose infer.",
    )
    add = defaulted(p, UIConfig)
    add("--weights", help="MagicPose weights folder (default: the embedded demo weights)")
    add(
        "--pose2vid-weights", help="a pose2vid weights folder: offers the pose2vid generator beside MagicPose"
    )
    add(
        "--vid2vid-weights",
        help="a vid2vid weights folder (magicpose convert vid2vid): offers the vid2vid generator",
    )
    add(
        "--mraa-weights",
        help="an MRAA weights folder (magicpose train-mraa): offers the mraa generator, which moves the photo "
        "as a dance video moves (no poses)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the "
        "network, where anyone can run jobs and read files by path)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument(
        "--output-dir",
        default=str(UIConfig.output_dir),
        help=f"where every job's video, frames and previews are written (default: {UIConfig.output_dir})",
    )
    add_device_arguments(p, UIConfig)
    add_pose_extractor_arguments(p, UIConfig, "--pose-backend", "--pose-weights", use=" for driving videos")
    return p


def ui_config(args) -> UIConfig:
    """The page's configuration of ``magicpose ui``'s flags (one flag per field, of the same name)."""
    from magicpose.ui.jobs import UIConfig

    flags = {field.name: getattr(args, field.name) for field in dataclasses.fields(UIConfig)}
    return UIConfig(**{**flags, "output_dir": Path(args.output_dir)})


HOST_FIX = "use 127.0.0.1, 0.0.0.0 or this machine's address"


def _bind_error(host: str, port: int, address: str, err: OSError) -> InputError:
    reason = err.strerror or type(err).__name__
    if err.errno == errno.EADDRINUSE:
        return InputError(f"--port {port} on {address} is in use by another program: pass another --port")
    if err.errno == errno.EADDRNOTAVAIL:
        named = f"'{host}'" if address == host else f"'{host}' ({address})"
        return InputError(f"--host {named} is not an address of this machine ({reason}): {HOST_FIX}")
    if err.errno == errno.EACCES:
        return InputError(
            f"--port {port} on {address} needs administrator rights ({reason}): pass a port above 1023"
        )
    return InputError(
        f"cannot listen on --host '{host}' --port {port} ({reason}): {HOST_FIX}, or another --port"
    )


def _probe(family: int, socktype: int, proto: int, address: tuple) -> bool:
    """Bind a socket to ``address`` as asyncio's server does (SO_REUSEADDR, IPv6 sockets IPv6-only), then close it;
    False where this system has no such socket (IPv6 off: the server skips that address too)."""
    try:
        probe = socket.socket(family, socktype, proto)
    except OSError:
        return False
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == getattr(socket, "AF_INET6", None) and hasattr(socket, "IPPROTO_IPV6"):
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind(address)
    return True


def resolve_host(host: str, port: int) -> list[tuple]:
    """``--host`` as the server resolves it (getaddrinfo, passive, TCP), or the one line that says why it cannot be
    listened on: empty, not a host name, an impossible IP address, or a name that does not resolve."""
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1], as Gradio allows
    if not name.strip():
        raise InputError(f"--host '{host}' is empty: {HOST_FIX}")
    if "://" in name or "/" in name:
        raise InputError(
            f"--host '{host}' is a URL, not a host: pass the host part alone (e.g. 127.0.0.1) and the "
            "port with --port"
        )
    if re.fullmatch(r"[0-9.]+", name):
        try:
            socket.inet_aton(name)
        except OSError:
            raise InputError(
                f"--host '{host}' is not a valid IPv4 address (four numbers 0 to 255): {HOST_FIX}"
            ) from None
    elif ":" in name:
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise InputError(f"--host '{host}' is not a valid IPv6 address: {HOST_FIX}") from None
    elif not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InputError(f"--host '{host}' is not a host name or an IP address: {HOST_FIX}")
    try:
        infos = socket.getaddrinfo(name, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise InputError(f"--host '{host}' cannot be resolved ({err.strerror}): {HOST_FIX}") from None
    except (UnicodeError, ValueError):  # e.g. an empty label: "a..b"
        raise InputError(f"--host '{host}' is not a host name or an IP address: {HOST_FIX}") from None
    if not infos:
        raise InputError(f"--host '{host}' cannot be resolved (no address): {HOST_FIX}")
    return list(dict.fromkeys(infos))


def check_address(host: str, port: int, also: tuple[str, ...] = ()) -> None:
    """Fail in one line, before the weights load, where the page could not listen on ``host``:``port``: bind every
    address the host resolves to as the server will (asyncio: SO_REUSEADDR, IPv6 sockets IPv6-only), and each of
    ``also`` (Gradio first probes the port on 127.0.0.1 whatever the host, then says "Cannot find empty port").
    Every probe is closed before returning."""
    bound = 0
    for family, socktype, proto, _, address in resolve_host(host, port):
        try:
            bound += _probe(family, socktype, proto, address)
        except OSError as err:
            raise _bind_error(host, port, str(address[0]), err) from None
    if not bound:
        raise InputError(f"--host '{host}' has no address this system can listen on: {HOST_FIX}")
    for extra in also:
        try:
            _probe(socket.AF_INET, socket.SOCK_STREAM, 0, (extra, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise _bind_error(host, port, extra, err) from None


def check_output_dir(folder: Path) -> None:
    """Fail before any work where ``--output-dir`` cannot be written: create it (and its missing parents) and a
    probe file in it for real, then remove the probe and every folder this made, so a refused run leaves none."""
    if folder.exists() and not folder.is_dir():
        raise InputError(
            f"--output-dir '{folder}' is a file, not a folder: pass a folder (every job writes its "
            "video there)"
        )
    created: list[Path] = []
    try:
        for missing in reversed(_missing_folders(folder)):
            missing.mkdir()
            created.insert(0, missing)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".magicpose-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise InputError(
            f"--output-dir '{folder}' cannot be written ({reason}): choose another --output-dir"
        ) from None
    finally:
        remove_if_empty(created)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first."""
    missing = []
    while not (folder.exists() or folder.is_symlink()) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def run(args) -> int:
    from magicpose.infer import DEFAULT_IMAGE, check_run_flags
    from magicpose.ui.app import PageStopped, import_gradio, launch
    from magicpose.ui.jobs import JobForm, infer_options
    from magicpose.ui.uploads import DrivingSource

    import_gradio()  # the install line, before anything else
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} must be between 1 and 65535")
    for flag, folder in (
        ("--weights", args.weights),
        ("--pose2vid-weights", args.pose2vid_weights),
        ("--vid2vid-weights", args.vid2vid_weights),
        ("--mraa-weights", args.mraa_weights),
        ("--pose-weights", args.pose_weights),
    ):
        if folder is not None and not Path(folder).is_dir():
            raise InputError(f"{flag} '{folder}' is not a folder: pass the folder the weights were saved to")
    output_dir = Path(args.output_dir)
    check_output_dir(output_dir)
    gradio_probe = os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    check_address(args.host, args.port, also=(gradio_probe,))
    config = ui_config(args)
    # --device and --dtype as the first job will use them, checked by infer's own lines before the weights load
    check_run_flags(
        infer_options(
            JobForm(reference=str(DEFAULT_IMAGE)), config, output_dir / "check.mp4", DrivingSource()
        )
    )
    created = _missing_folders(output_dir)  # made by launch: removed again if no job wrote into them
    print(f"magicpose ui: http://{args.host}:{args.port} (Ctrl+C stops it); outputs go to {output_dir}/")
    main_thread = threading.current_thread() is threading.main_thread()  # where signal handlers may be set
    previous = signal.signal(signal.SIGTERM, _stop) if main_thread else None  # `kill` stops it as Ctrl+C does
    stopped = False
    try:
        launch(config, host=args.host, port=args.port, block=True)
    except PageStopped:
        stopped = True
    except OSError as err:
        if "Cannot find empty port" not in str(err):
            raise
        # another program took the port while the weights loaded: say which, as the check above would have
        check_address(args.host, args.port, also=(gradio_probe,))
        raise InputError(
            f"--port {args.port} on {args.host} could not be listened on: pass another --port"
        ) from None
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        remove_if_empty(created)
    if stopped:  # as every command's Ctrl+C: one line, status 130
        kept = output_dir.is_dir() and any(output_dir.iterdir())
        print_error(
            "the page was stopped" + (f"; its videos are in {output_dir}/" if kept else ""),
            prefix="interrupted",
        )
        return 130
    return 0


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt
