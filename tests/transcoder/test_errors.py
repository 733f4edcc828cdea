"""Failure reasons are written for people."""

from __future__ import annotations

from transcoder.errors import decode_failed, timed_out


def test_time_out_reasons() -> None:
    assert timed_out(10800) == "Transcoding took longer than 180 minutes."
    assert timed_out(60) == "Transcoding took longer than 1 minute."
    assert timed_out(1) == "Transcoding took longer than 1 second."
    assert timed_out(0.3) == "Transcoding took longer than 0.3 seconds."


def test_decode_reasons_drop_ffmpeg_internals() -> None:
    assert decode_failed("[h264 @ 0x55d0c1a2b3c0] error while decoding MB 3 4") == (
        "FFmpeg could not convert the video: h264: error while decoding MB 3 4"
    )
    # FFmpeg 6.1+ (the bundled build) names its inputs and outputs in the prefix
    assert decode_failed("[in#0/mov,mp4,m4a,3gp,3g2,mj2 @ 0x7f3a4c001200] partial file") == (
        "FFmpeg could not convert the video: in#0/mov,mp4,m4a,3gp,3g2,mj2: partial file"
    )
    assert decode_failed("[vost#0:1/libx264 @ 0x5581] Error while opening encoder") == (
        "FFmpeg could not convert the video: vost#0:1/libx264: Error while opening encoder"
    )
    assert decode_failed("") == "FFmpeg could not convert the video."
    assert len(decode_failed("x" * 5000)) < 400
