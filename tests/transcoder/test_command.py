"""The shape of the one FFmpeg command (its effect is checked on real output elsewhere)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from transcoder.command import LadderJob, filter_graph, gop_frames, ladder_command
from transcoder.config import TranscoderSettings
from transcoder.ladder import plan_ladder
from transcoder.probe import SourceInfo


def info(**overrides: object) -> SourceInfo:
    values: dict[str, object] = {
        "duration": 60.0,
        "width": 1920,
        "height": 1080,
        "codec": "h264",
        "frame_rate": Fraction(30),
        "video_index": 0,
        "audio_index": 1,
    }
    values.update(overrides)
    return SourceInfo(**values)  # type: ignore[arg-type]


def command(source: SourceInfo, **settings: object) -> list[str]:
    renditions = plan_ladder(source.display_width, source.display_height, source.frame_rate)
    job = LadderJob(Path("/work/source.mp4"), source, renditions, Path("/work/hls"))
    return ladder_command(job, TranscoderSettings(**settings))  # type: ignore[arg-type]


def value(args: list[str], option: str) -> str:
    return args[args.index(option) + 1]


def test_one_input_one_graph_all_renditions() -> None:
    args = command(info())
    assert args.count("-i") == 1
    assert value(args, "-i") == "file:/work/source.mp4"
    graph = value(args, "-filter_complex")
    # a cascade: 1080p from the source, 720p from 1080p, 480p from 720p
    assert graph.split(";") == [
        "[0:0]fps=30,scale=w=1920:h=1080:flags=bicubic,format=yuv420p,split=2[c2][n2]",
        "[c2]setsar=1[v2]",
        "[n2]scale=w=1280:h=720:flags=bicubic,format=yuv420p,split=2[c1][n1]",
        "[c1]setsar=1[v1]",
        "[n1]scale=w=854:h=480:flags=bicubic,format=yuv420p,setsar=1[v0]",
    ]
    assert (
        value(args, "-var_stream_map") == "v:0,a:0,name:480p v:1,a:1,name:720p v:2,a:2,name:1080p"
    )
    assert args.count("0:1") == 3  # the audio, once per variant
    assert [a for a in args if a.startswith("-maxrate:v:")] == [
        "-maxrate:v:0",
        "-maxrate:v:1",
        "-maxrate:v:2",
    ]
    assert value(args, "-hls_segment_filename") == "/work/hls/%v/segment_%05d.ts"
    assert args[-1] == "/work/hls/%v/index.m3u8"
    assert value(args, "-master_pl_name") == "master.m3u8"
    assert value(args, "-hls_playlist_type") == "vod"
    assert value(args, "-progress") == "pipe:1"


def test_keyframes_are_forced_on_segment_boundaries() -> None:
    args = command(info(frame_rate=Fraction(30000, 1001)), transcode_segment_seconds=4)
    assert value(args, "-force_key_frames") == "expr:gte(t,n_forced*4)"
    assert value(args, "-sc_threshold") == "0"
    assert value(args, "-g") == value(args, "-keyint_min") == "120"
    params = value(args, "-x264-params").split(":")
    assert "scenecut=0" in params and "open-gop=0" in params
    assert value(args, "-hls_time") == "4"
    assert gop_frames(Fraction(25), 4) == 100


def test_settings_reach_the_command() -> None:
    args = command(
        info(),
        transcode_preset="faster",
        transcode_threads=2,
        transcode_x264_params="aq-mode=2:keyint=999",
        ffmpeg_path="/opt/ffmpeg",
    )
    assert args[0] == "/opt/ffmpeg"
    assert value(args, "-preset") == "faster"
    assert value(args, "-threads") == "2"
    assert value(args, "-filter_complex_threads") == "2"
    assert "aq-mode=2" in value(args, "-x264-params")


def test_no_audio_means_video_only_variants() -> None:
    args = command(info(audio_index=None))
    assert "0:1" not in args and "-c:a" not in args
    assert value(args, "-var_stream_map") == "v:0,name:480p v:1,name:720p v:2,name:1080p"


def test_interlaced_sources_are_deinterlaced_once() -> None:
    source = info(interlaced=True, frame_rate=Fraction(25))
    graph = filter_graph(source, plan_ladder(1920, 1080))
    assert graph.startswith("[0:0]bwdif=mode=send_frame:deint=interlaced,fps=25,scale=")
    assert graph.count("bwdif") == 1


def test_a_single_rung_needs_no_split() -> None:
    graph = filter_graph(info(width=320, height=240), plan_ladder(320, 240))
    assert graph == "[0:0]fps=30,scale=w=640:h=480:flags=bicubic,format=yuv420p,setsar=1[v0]"


def test_high_frame_rates_are_halved() -> None:
    args = command(info(frame_rate=Fraction(120)), transcode_segment_seconds=4)
    assert "fps=60," in value(args, "-filter_complex")
    assert value(args, "-g") == "240"
