"""`magicpose ui` refuses a bad --host, --port, --output-dir or --device in one line (exit 2) before the page or the
weights load, and leaves no empty output folder behind. The page itself is never started here: `launch` is
replaced, so each test takes well under a second."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from magicpose import cli
from magicpose.errors import InputError

pytest.importorskip("gradio")  # run_ui's first line is the install hint without it

FIX = "use 127.0.0.1, 0.0.0.0 or this machine's address"


@pytest.fixture
def launches(monkeypatch) -> list[dict]:
    """Replace the page's start: each call is recorded (and binds host:port itself, as the server will, proving
    the command's probe was closed); nothing loads weights or serves."""
    calls: list[dict] = []

    def fake_launch(config, host="127.0.0.1", port=7860, block=True, runner=None):
        config.output_dir.mkdir(parents=True, exist_ok=True)  # as the real launch does
        with socket.socket() as server:
            server.bind((host, port))
        calls.append({"config": config, "host": host, "port": port})

    monkeypatch.setattr("magicpose.ui.app.launch", fake_launch)
    return calls


@pytest.fixture
def busy_port():
    """A port another program listens on, on 127.0.0.1."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ui(capsys, *flags: str) -> tuple[int, list[str]]:
    code = cli.main(["ui", *flags])
    return code, capsys.readouterr().err.splitlines()


# -- --port and --host -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_port_in_use_is_one_line_before_anything_loads(busy_port, host, launches, tmp_path, capsys) -> None:
    out = tmp_path / "new" / "ui"
    code, err = _ui(capsys, "--port", str(busy_port), "--host", host, "--output-dir", str(out))
    assert (code, err) == (
        2,
        [f"error: --port {busy_port} on {host} is in use by another program: pass another --port"],
    )
    assert launches == [] and not (tmp_path / "new").exists()


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="127.0.0.2 is an address of this machine on Linux"
)
def test_port_taken_on_127_0_0_1_is_refused_for_another_host_too(
    busy_port, launches, tmp_path, capsys
) -> None:
    """Gradio first probes the port on 127.0.0.1 whatever the host (then says "Cannot find empty port"): the check
    does too, so a host whose own address is free still gets the port-in-use line."""
    code, err = _ui(
        capsys, "--host", "127.0.0.2", "--port", str(busy_port), "--output-dir", str(tmp_path / "out")
    )
    assert (code, err) == (
        2,
        [f"error: --port {busy_port} on 127.0.0.1 is in use by another program: pass another --port"],
    )
    assert launches == []


@pytest.mark.parametrize(
    ("host", "line"),
    [
        ("999.1.1.1", f"--host '999.1.1.1' is not a valid IPv4 address (four numbers 0 to 255): {FIX}"),
        ("a b", f"--host 'a b' is not a host name or an IP address: {FIX}"),
        ("a..b", f"--host 'a..b' is not a host name or an IP address: {FIX}"),
        ("", f"--host '' is empty: {FIX}"),
        ("::zz", f"--host '::zz' is not a valid IPv6 address: {FIX}"),
        (
            "192.0.2.1",
            f"--host '192.0.2.1' is not an address of this machine (Cannot assign requested address): {FIX}",
        ),
        (
            "http://localhost:7860",
            "--host 'http://localhost:7860' is a URL, not a host: pass the host part alone (e.g. "
            "127.0.0.1) and the port with --port",
        ),
    ],
)
def test_bad_host_is_one_line(host, line, launches, tmp_path, capsys) -> None:
    code, err = _ui(
        capsys, "--host", host, "--port", str(_free_port()), "--output-dir", str(tmp_path / "out")
    )
    assert (code, err) == (2, [f"error: {line}"])
    assert launches == [] and not (tmp_path / "out").exists()


def test_unresolvable_host_names_the_resolver_reason(launches, tmp_path, capsys) -> None:
    code, err = _ui(capsys, "--host", "no.such.host.invalid", "--output-dir", str(tmp_path / "out"))
    assert code == 2 and len(err) == 1
    reason = (
        err[0]
        .removeprefix("error: --host 'no.such.host.invalid' cannot be resolved (")
        .removesuffix(f"): {FIX}")
    )
    assert reason != err[0] and reason and ")" not in reason  # e.g. "Name or service not known"
    assert launches == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("port", ["0", "-1", "65536", "99999"])
def test_port_out_of_range(port, launches, tmp_path, capsys) -> None:
    code, err = _ui(capsys, "--port", port, "--output-dir", str(tmp_path / "out"))
    assert (code, err) == (2, [f"error: --port {port} must be between 1 and 65535"])
    assert launches == [] and not (tmp_path / "out").exists()


def test_port_taken_while_the_weights_load_is_the_same_line(monkeypatch, tmp_path, capsys) -> None:
    """Another program binds the port after the check, during the load: Gradio's "Cannot find empty port" becomes
    the port-in-use line, and the output folder made for the run is removed again."""
    port = _free_port()
    other = socket.socket()

    def gradio_fails(config, host, port, block):
        config.output_dir.mkdir(parents=True, exist_ok=True)
        other.bind((host, port))
        other.listen()
        raise OSError(
            f"Cannot find empty port in range: {port}-{port}. You can specify a different port by ..."
        )

    monkeypatch.setattr("magicpose.ui.app.launch", gradio_fails)
    with other:
        code, err = _ui(capsys, "--port", str(port), "--output-dir", str(tmp_path / "a" / "b"))
    assert (code, err) == (
        2,
        [f"error: --port {port} on 127.0.0.1 is in use by another program: pass another --port"],
    )
    assert not (tmp_path / "a").exists()


def test_good_flags_start_the_page_with_the_probe_closed(launches, tmp_path, capsys) -> None:
    port = _free_port()
    out = tmp_path / "out"
    assert cli.main(["ui", "--port", str(port), "--output-dir", str(out), "--device", "cpu"]) == 0
    (call,) = launches  # the fake launch bound host:port itself: the probe was closed
    assert (call["host"], call["port"], call["config"].output_dir) == ("127.0.0.1", port, out)
    assert capsys.readouterr().err == ""
    assert not out.exists()  # no job wrote into it: the empty folder made for the run is gone


# -- --output-dir ------------------------------------------------------------------------------------------------


def test_output_dir_that_is_a_file(launches, tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("mine")
    code, err = _ui(capsys, "--output-dir", str(tmp_path / "file"), "--port", str(_free_port()))
    assert (code, err) == (
        2,
        [
            f"error: --output-dir '{tmp_path / 'file'}' is a file, not a folder: pass a folder "
            "(every job writes its video there)"
        ],
    )
    assert (tmp_path / "file").read_text() == "mine" and launches == []


def test_output_dir_that_cannot_be_made(launches, tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("mine")
    out = tmp_path / "file" / "ui"
    code, err = _ui(capsys, "--output-dir", str(out), "--port", str(_free_port()))
    assert (code, err) == (
        2,
        [f"error: --output-dir '{out}' cannot be written (Not a directory): choose another --output-dir"],
    )
    assert launches == []


def test_output_dir_name_too_long_leaves_no_parent_behind(launches, tmp_path, capsys) -> None:
    out = tmp_path / "new" / "deeper" / ("x" * 300)
    code, err = _ui(capsys, "--output-dir", str(out), "--port", str(_free_port()))
    assert (code, err) == (
        2,
        [f"error: --output-dir '{out}' cannot be written (File name too long): choose another --output-dir"],
    )
    assert sorted(tmp_path.iterdir()) == [] and launches == []


def test_a_page_that_fails_to_start_leaves_no_empty_output_folder(monkeypatch, tmp_path, capsys) -> None:
    from magicpose.ui.jobs import JobRunner

    def bad_weights(self, log=print):
        raise InputError("weights folder 'x' has no model_index.json")

    monkeypatch.setattr(JobRunner, "preload", bad_weights)
    monkeypatch.setattr("magicpose.ui.app.build_app", lambda *a: pytest.fail("the page was built"))
    kept = tmp_path / "kept"
    kept.mkdir()
    for out in (tmp_path / "a" / "b", kept):
        code, err = _ui(capsys, "--output-dir", str(out), "--port", str(_free_port()), "--device", "cpu")
        assert (code, err) == (2, ["error: weights folder 'x' has no model_index.json"])
    assert sorted(tmp_path.iterdir()) == [kept]  # the folder made for the run is gone; the user's own stays


def test_output_folder_with_a_job_output_is_kept(monkeypatch, tmp_path, capsys) -> None:
    def one_job(config, host, port, block):
        config.output_dir.mkdir(parents=True, exist_ok=True)
        (config.output_dir / "ui-job.mp4").write_bytes(b"video")

    monkeypatch.setattr("magicpose.ui.app.launch", one_job)
    out = tmp_path / "a" / "b"
    assert cli.main(["ui", "--output-dir", str(out), "--port", str(_free_port())]) == 0
    assert [p.name for p in out.iterdir()] == ["ui-job.mp4"]


def test_bad_device_is_refused_before_the_weights_load(launches, tmp_path, capsys) -> None:
    code, err = _ui(
        capsys, "--device", "cude", "--output-dir", str(tmp_path / "out"), "--port", str(_free_port())
    )
    assert (code, err) == (2, ["error: --device 'cude' is not a device: use cpu, cuda, cuda:N or mps"])
    assert launches == [] and not (tmp_path / "out").exists()


def test_command_line_errors_leave_the_current_folder_clean(launches, tmp_path, capsys, monkeypatch) -> None:
    """The default --output-dir (outputs/ui, relative) is not left behind by a refused run."""
    monkeypatch.chdir(tmp_path)
    code, _ = _ui(capsys, "--host", "a b")
    assert code == 2 and list(Path(".").iterdir()) == []


def test_kill_stops_the_page_like_ctrl_c_and_leaves_no_empty_folder(monkeypatch, tmp_path, capsys) -> None:
    import os
    import signal
    import time

    def serve_until_killed(config, host, port, block):
        config.output_dir.mkdir(parents=True, exist_ok=True)
        os.kill(os.getpid(), signal.SIGTERM)  # `kill <pid>` while the page waits for jobs
        time.sleep(5)
        pytest.fail("SIGTERM did not stop the page")

    monkeypatch.setattr("magicpose.ui.app.launch", serve_until_killed)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "a" / "b"
    assert cli.main(["ui", "--output-dir", str(out), "--port", str(_free_port())]) == 130
    assert list(tmp_path.iterdir()) == [] and signal.getsignal(signal.SIGTERM) is before


def test_missing_mraa_weights_folder_is_one_line(tmp_path, capsys) -> None:
    code, err = _ui(capsys, "--mraa-weights", str(tmp_path / "nope"), "--port", str(_free_port()))
    assert (code, err) == (
        2,
        [
            f"error: --mraa-weights '{tmp_path / 'nope'}' is not a folder: pass the folder the "
            "weights were saved to"
        ],
    )


def test_mraa_weights_reach_the_page(launches, tmp_path, capsys) -> None:
    port = _free_port()
    flags = ["--mraa-weights", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--device", "cpu"]
    assert cli.main(["ui", "--port", str(port), *flags]) == 0
    (call,) = launches
    assert call["config"].mraa_weights == str(tmp_path) and capsys.readouterr().err == ""


def test_missing_pose_weights_folder_is_one_line(tmp_path, capsys) -> None:
    code, err = _ui(capsys, "--pose-weights", str(tmp_path / "nope"), "--port", str(_free_port()))
    assert (code, err) == (
        2,
        [
            f"error: --pose-weights '{tmp_path / 'nope'}' is not a folder: pass the folder the "
            "weights were saved to"
        ],
    )


def test_ctrl_c_while_serving_stops_the_job_closes_the_server_and_says_130(tmp_path, capsys) -> None:
    """Gradio's own wait swallows Ctrl+C and exits 0; the page's wait stops the running job, closes the server
    and reports 130 like every other command."""
    import os
    import signal
    import threading

    from magicpose.ui.app import PageStopped, serve_until_stopped
    from magicpose.ui.jobs import JobRunner, UIConfig

    class Demo:
        closed = 0

        def close(self) -> None:
            Demo.closed += 1

    runner = JobRunner(UIConfig(output_dir=tmp_path))
    job = runner.new_token("a browser tab")
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(PageStopped):
        serve_until_stopped(Demo(), runner)
    assert job.is_set() and Demo.closed == 1


@pytest.mark.parametrize("wrote_a_video", [False, True])
def test_a_stopped_page_is_one_interrupted_line_and_130(monkeypatch, tmp_path, capsys, wrote_a_video) -> None:
    from magicpose.ui.app import PageStopped

    out = tmp_path / "new" / "ui"

    def serve_then_stop(config, host, port, block):
        config.output_dir.mkdir(parents=True, exist_ok=True)
        if wrote_a_video:
            (config.output_dir / "job.mp4").write_bytes(b"video")
        raise PageStopped

    monkeypatch.setattr("magicpose.ui.app.launch", serve_then_stop)
    code, err = _ui(capsys, "--output-dir", str(out), "--port", str(_free_port()))
    said = (
        f"interrupted: the page was stopped; its videos are in {out}/"
        if wrote_a_video
        else "interrupted: the page was stopped"
    )
    assert (code, err) == (130, [said])
    assert out.is_dir() == wrote_a_video and (tmp_path / "new").exists() == wrote_a_video
