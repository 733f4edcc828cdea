"""`python -m transcoder.avprobe`: ffprobe's answers from PyAV, where there is no ffprobe.

imageio-ffmpeg ships an `ffmpeg` but no `ffprobe`. This program prints the part of what
`transcoder.probe` reads from ffprobe, in ffprobe's own shapes, so that both probers feed
the same parser and give the same `SourceInfo` and the same failure reasons:

    python -m transcoder.avprobe -protocol_whitelist file -format_whitelist mov,... streams URL
        like `ffprobe -print_format json -show_format -show_streams URL` (the fields
        `probe.parse_probe` reads; a stream's display matrix comes from its first decoded
        frame, where PyAV exposes it)
    python -m transcoder.avprobe ... packets URL
        like `ffprobe -select_streams v:0 -show_entries packet=pts_time,dts_time,duration_time
        -of csv=p=0 URL`

It runs as a child process, as ffprobe does, not inside the worker: a hostile file that
crashes or hangs a demuxer takes down this child (which the time-out kills), not the process
that serves the rest of the platform. PyAV is imported only when the program runs, so the
worker can read `UNREADABLE` from here without loading it.

Exit status: 0 with the answer on stdout; `UNREADABLE` when the file cannot be read as media,
with FFmpeg's error log on stderr as ffprobe would write it; anything else is a fault of
this tool (PyAV missing, a bug) and must not be blamed on the file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

UNREADABLE = 65
"""sysexits' EX_DATAERR: distinct from Python's 1 for an uncaught exception."""
FIRST_FRAME_PACKETS = 500
"""How many packets to read at most while looking for each video stream's first frame."""
FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
"""FFmpeg's AVFieldOrder values, named as ffprobe names them (0 is unknown)."""


def _ratio(value: Fraction | None, sep: str = "/") -> str | None:
    """`25/1`, `64:45`; None for an unknown (None or zero) ratio, which ffprobe leaves out."""
    if not value:
        return None
    return f"{value.numerator}{sep}{value.denominator}"


def _seconds(ticks: int | None, time_base: Fraction | None) -> str | None:
    """Seconds with six decimals, as ffprobe prints times."""
    if ticks is None or not time_base:
        return None
    return f"{float(ticks * time_base):.6f}"


def _stream(stream: Any, rotation: float | None) -> dict[str, Any]:
    import av

    context = stream.codec_context
    disposition = stream.disposition
    entry: dict[str, Any] = {
        "index": stream.index,
        "codec_type": stream.type,
        "codec_name": context.codec.canonical_name if context is not None else None,
        "duration": _seconds(stream.duration, stream.time_base),
        "disposition": {
            "default": int(bool(disposition & av.stream.Disposition.default)),
            "attached_pic": int(bool(disposition & av.stream.Disposition.attached_pic)),
        },
        "tags": dict(stream.metadata),
    }
    if stream.type == "video" and context is not None:
        entry |= {
            "width": context.width,
            "height": context.height,
            # av_guess_sample_aspect_ratio, as ffprobe: the container's, else the codec's
            "sample_aspect_ratio": _ratio(stream.sample_aspect_ratio, ":"),
            "avg_frame_rate": _ratio(stream.average_rate),
            "r_frame_rate": _ratio(stream.base_rate),
            "field_order": FIELD_ORDERS.get(context.field_order),
        }
        if rotation is not None:
            # counter-clockwise degrees, the sign ffprobe prints
            entry["side_data_list"] = [{"side_data_type": "Display Matrix", "rotation": rotation}]
    elif stream.type == "audio" and context is not None:
        entry["channels"] = context.channels
    return {key: value for key, value in entry.items() if value is not None}


def _first_frame_rotations(container: Any, videos: list[Any]) -> dict[int, float]:
    """Stream index -> the display matrix rotation of its first decoded frame, for the
    streams whose frames carry one (the decoder attaches the container's matrix)."""
    import av
    from av.sidedata.sidedata import Type

    pending = {s.index for s in videos if s.codec_context is not None}
    found: dict[int, float] = {}
    if not pending:
        return found
    try:
        for count, packet in enumerate(container.demux(videos)):
            if not pending or count >= FIRST_FRAME_PACKETS:
                break
            index = packet.stream.index
            if index not in pending:
                continue
            for frame in packet.decode():
                pending.discard(index)
                if any(data.type == Type.DISPLAYMATRIX for data in frame.side_data):
                    found[index] = float(frame.rotation)
                break
    except (av.FFmpegError, ValueError):
        pass  # undecodable: no rotation known, as ffprobe when the matrix is missing
    return found


def streams(container: Any) -> dict[str, Any]:
    videos = [s for s in container.streams if s.type == "video"]
    rotations = _first_frame_rotations(container, videos)
    fmt: dict[str, Any] = {"format_name": container.format.name}
    if container.duration is not None:
        fmt["duration"] = f"{container.duration / 1_000_000:.6f}"  # AV_TIME_BASE units
    return {
        "streams": [_stream(s, rotations.get(s.index)) for s in container.streams],
        "format": fmt,
    }


def packets(container: Any) -> list[str]:
    """`pts_time,dts_time,duration_time` of every packet of the first video stream."""
    import av

    video = next((s for s in container.streams if s.type == "video"), None)
    if video is None:
        return []
    lines = []
    base = video.time_base
    try:
        for packet in container.demux(video):
            if packet.pts is None and packet.dts is None and not packet.size:
                continue  # the empty packet PyAV ends with, to flush decoders
            times = (_seconds(t, base) for t in (packet.pts, packet.dts, packet.duration))
            lines.append(",".join(t or "N/A" for t in times))
    except av.FFmpegError:
        pass  # ffprobe, too, lists what it read before the error
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transcoder.avprobe")
    parser.add_argument("-protocol_whitelist", required=True)
    parser.add_argument("-format_whitelist", required=True)
    parser.add_argument("what", choices=("streams", "packets"))
    parser.add_argument("url")
    args = parser.parse_args(argv)

    import av
    import av.logging

    # FFmpeg's own error lines on stderr, as `ffprobe -loglevel error` writes them: the
    # caller recognises some ("moov atom not found")
    logging.basicConfig(stream=sys.stderr, level=logging.ERROR, format="%(name)s: %(message)s")
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)
    try:
        container = av.open(
            args.url,
            mode="r",
            container_options={
                "protocol_whitelist": args.protocol_whitelist,
                "format_whitelist": args.format_whitelist,
            },
            metadata_errors="replace",
        )
    except (av.FFmpegError, OSError, UnicodeError) as exc:
        print(f"{args.url}: {exc}", file=sys.stderr)
        return UNREADABLE
    with container:
        if args.what == "streams":
            print(json.dumps(streams(container)))
        else:
            print("\n".join(packets(container)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
