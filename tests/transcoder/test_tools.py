"""Which FFmpeg and prober the transcoder uses: the setting, else PATH, else the bundled ones
(imageio-ffmpeg's build and PyAV)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from transcoder import tools
from transcoder.config import TranscoderSettings
from transcoder.probe import FfprobeProber, PyAVProber
from transcoder.tools import resolve_tools

REAL_WHICH = shutil.which


def fake_path(monkeypatch: pytest.MonkeyPatch, found: dict[str, str | None]) -> None:
    """`shutil.which` answers `found` for those names (None: not on PATH), the truth else."""

    def which(cmd: str, mode: int = os.F_OK | os.X_OK, path: str | None = None) -> str | None:
        return found[cmd] if cmd in found else REAL_WHICH(cmd, mode, path)

    monkeypatch.setattr(shutil, "which", which)


def no_system_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_path(monkeypatch, {"ffmpeg": None, "ffprobe": None})


def settings(**values: str | None) -> TranscoderSettings:
    """Settings with only `values` set (not FFMPEG_PATH / FFPROBE_PATH from the environment)."""
    return TranscoderSettings(**{"ffmpeg_path": None, "ffprobe_path": None, **values})


def test_a_path_that_is_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_path(monkeypatch, {"ffmpeg": "/usr/bin/ffmpeg", "ffprobe": "/usr/bin/ffprobe"})
    chosen = resolve_tools(settings(ffmpeg_path="/opt/ff/ffmpeg", ffprobe_path="/opt/ff/ffprobe"))
    assert (chosen.ffmpeg, chosen.ffmpeg_origin) == ("/opt/ff/ffmpeg", "FFMPEG_PATH")
    assert (chosen.prober, chosen.prober_origin) == (
        FfprobeProber("/opt/ff/ffprobe"),
        "FFPROBE_PATH",
    )


def test_the_environment_sets_the_paths_and_empty_means_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FFMPEG_PATH", "/opt/ff/ffmpeg")
    monkeypatch.setenv("FFPROBE_PATH", "")
    options = TranscoderSettings()
    assert (options.ffmpeg_path, options.ffprobe_path) == ("/opt/ff/ffmpeg", None)


def test_then_the_tools_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_path(monkeypatch, {"ffmpeg": "/usr/local/bin/ffmpeg", "ffprobe": "/usr/local/bin/ffprobe"})
    chosen = resolve_tools(settings())
    assert (chosen.ffmpeg, chosen.ffmpeg_origin) == ("/usr/local/bin/ffmpeg", "PATH")
    assert (chosen.prober, chosen.prober_origin) == (
        FfprobeProber("/usr/local/bin/ffprobe"),
        "PATH",
    )


def test_then_imageio_ffmpeg_and_pyav(monkeypatch: pytest.MonkeyPatch) -> None:
    no_system_ffmpeg(monkeypatch)
    chosen = resolve_tools(settings())
    assert chosen.ffmpeg_origin == "imageio-ffmpeg"
    assert Path(chosen.ffmpeg).is_relative_to(Path(imageio_ffmpeg.__file__).parent)
    assert chosen.prober == PyAVProber()
    assert chosen.ready()


def test_ffprobe_alone_missing_keeps_the_system_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_path(monkeypatch, {"ffmpeg": "/usr/bin/ffmpeg", "ffprobe": None})
    chosen = resolve_tools(settings())
    assert (chosen.ffmpeg, chosen.prober) == ("/usr/bin/ffmpeg", PyAVProber())


def test_nothing_found_is_reported_not_hidden(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    no_system_ffmpeg(monkeypatch)
    monkeypatch.setattr(tools, "bundled_ffmpeg", lambda: None)
    chosen = resolve_tools(settings())
    assert (chosen.ffmpeg, chosen.ffmpeg_origin) == ("ffmpeg", "not found")
    assert not chosen.ready()
    with caplog.at_level(logging.INFO, logger="transcoder.tools"):
        tools.log_tools(chosen)
    assert "no FFmpeg" in caplog.text


def test_the_bundled_ffmpeg_has_what_the_ladder_uses() -> None:
    """The ladder's encoders, filters and muxer options; test_outputs runs the whole job."""
    exe = tools.bundled_ffmpeg()
    assert exe is not None

    def listing(*args: str) -> str:
        done = subprocess.run([exe, "-hide_banner", *args], capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()

    encoders = listing("-encoders")
    assert " libx264 " in encoders and " aac " in encoders and " mjpeg " in encoders
    filters = set(re.findall(r"^ [A-Z.]{2,3} (\w+) ", listing("-filters"), re.MULTILINE))
    wanted = {"fps", "bwdif", "scale", "format", "split", "setsar", "crop", "boxblur", "overlay"}
    assert wanted <= filters
    hls = listing("-h", "muxer=hls")
    for option in ("-var_stream_map", "-master_pl_name", "-hls_segment_type", "-hls_flags"):
        assert option in hls
    assert "-forced-idr" in listing("-h", "encoder=libx264")
