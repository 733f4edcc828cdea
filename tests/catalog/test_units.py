"""The pure parts: key rules, rendition fallback, Range parsing, the streaming form reader."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from catalog import media
from catalog.delivery import ByteRange, RangeNotSatisfiable, etag_matches, parse_range
from catalog.formstream import FormStream, MalformedForm, NotMultipart
from tests.support.http import multipart_body


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\My Clip.MOV", "My_Clip.MOV"),
        ("..", "source"),
        (".vf-meta-x.ts", "vf-meta-x.ts"),
        ("", "source"),
        (None, "source"),
        ("日本語.mkv", "source.mkv"),
        ("Crème brûlée.webm", "Creme_brulee.webm"),
        ("a" * 300 + ".mp4", "a" * 116 + ".mp4"),
        (".hidden", "source.hidden"),
        ("archive.tar.gz", "archive.tar.gz"),
        ("no extension", "no_extension"),
        ("x\x00y.mp4", "x_y.mp4"),
    ],
)
def test_sanitize_filename(name: str | None, expected: str) -> None:
    assert media.sanitize_filename(name) == expected
    assert media.source_key(7, name) == f"sources/7/{expected}"


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("thumbnails/5.jpg", True),
        ("thumbnails/5.abc.png", True),
        ("thumbnails/5/thumb.jpg", True),
        ("thumbnails/50.jpg", False),
        ("thumbnails/6.jpg", False),
        ("thumbnails/5/../6.jpg", False),
        ("thumbnails/5/.vf-meta-x", False),
        ("hls/5/480p/index.m3u8", False),
        ("thumbnails/5.", False),
        (None, False),
    ],
)
def test_is_thumbnail_key_of(key: str | None, ok: bool) -> None:
    assert media.is_thumbnail_key_of(5, key) is ok


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        ("2147483647", 2147483647),
        ("2147483648", None),
        ("0", None),
        ("01", None),
        ("-1", None),
        ("1.0", None),
        ("\u0661", None),  # an Arabic-Indic digit one: str.isdigit() says yes
        ("", None),
        (" 1", None),
    ],
)
def test_parse_video_id(raw: str, expected: int | None) -> None:
    assert media.parse_video_id(raw) == expected


@pytest.mark.parametrize(
    ("requested", "available", "served"),
    [
        ("720p", ["480p", "720p", "1080p"], "720p"),
        ("1080p", ["480p", "720p"], "720p"),
        ("1080p", ["480p"], "480p"),
        ("720p", ["480p", "1080p"], "480p"),
        ("480p", ["720p"], "720p"),
        ("480p", [], None),
        ("240p", ["480p"], None),
    ],
)
def test_serving_rendition(requested: str, available: list[str], served: str | None) -> None:
    assert media.serving_rendition(requested, available) == served


def test_sniff_image() -> None:
    assert media.sniff_image(b"\xff\xd8\xff\xe0") == media.JPEG
    assert media.sniff_image(b"\x89PNG\r\n\x1a\nxxxx") == media.PNG
    assert media.sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == media.WEBP
    for other in (b"GIF89a", b"<svg", b"RIFF\x00\x00\x00\x00AVI ", b"", b"\xff\xd8"):
        assert media.sniff_image(other) is None


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, ByteRange(0, 0)),
        ("bytes=2-", 10, ByteRange(2, 9)),
        ("bytes=-3", 10, ByteRange(7, 9)),
        ("bytes=-30", 10, ByteRange(0, 9)),
        ("bytes=5-100", 10, ByteRange(5, 9)),
        ("BYTES = 1-2", 10, ByteRange(1, 2)),
        ("bytes=3-1", 10, None),
        ("bytes=1-2,4-5", 10, None),
        ("bits=1-2", 10, None),
        ("bytes=x-1", 10, None),
        ("bytes=1", 10, None),
        ("bytes=" + "9" * 30 + "-", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=-5", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_etag_matches() -> None:
    assert etag_matches('"a"', '"a"')
    assert etag_matches('"x", W/"a"', '"a"')
    assert etag_matches("*", '"a"')
    assert not etag_matches('"b"', '"a"')
    assert not etag_matches(None, '"a"')


# ---------------------------------------------------------------------- form reader


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64, 100_000])
async def test_form_stream_handles_any_chunking(chunk_size: int) -> None:
    file_data = b"\r\n--not-the-boundary\r\n" + bytes(range(256)) * 20
    body, content_type = multipart_body(
        [
            ("title", None, None, "Tïtle".encode()),
            ("file", "a b.mp4", "video/mp4", file_data),
            ("empty", None, None, b""),
        ],
        boundary="XyZ-boundary",
    )
    seen = []
    async for part in FormStream(content_type, pieces(body, chunk_size)).parts():
        data = b"".join([c async for c in part.chunks()])
        seen.append((part.name, part.filename, part.content_type, data))
    assert seen == [
        ("title", None, "", "Tïtle".encode()),
        ("file", "a b.mp4", "video/mp4", file_data),
        ("empty", None, "", b""),
    ]


async def test_form_stream_skips_parts_left_unread() -> None:
    body, content_type = multipart_body([("a", None, None, b"1" * 1000), ("b", None, None, b"2")])
    names = [part.name async for part in FormStream(content_type, pieces(body, 10)).parts()]
    assert names == ["a", "b"]


async def test_form_stream_refuses_truncation_and_garbage() -> None:
    body, content_type = multipart_body([("a", None, None, b"value")])
    with pytest.raises(MalformedForm):
        async for part in FormStream(content_type, pieces(body[:-10], 4)).parts():
            await part.skip()
    with pytest.raises(MalformedForm):
        async for _part in FormStream(content_type, pieces(b"garbage" * 10, 4)).parts():
            pass
    with pytest.raises(NotMultipart):
        FormStream("application/json", pieces(b"{}", 1))
    with pytest.raises(MalformedForm):
        FormStream("multipart/form-data", pieces(b"", 1))


async def test_form_stream_limits_the_number_of_parts() -> None:
    body, content_type = multipart_body([(f"f{i}", None, None, b"x") for i in range(100)])
    with pytest.raises(MalformedForm):
        async for _part in FormStream(content_type, pieces(body, 1000)).parts():
            pass
