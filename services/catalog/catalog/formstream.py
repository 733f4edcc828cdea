"""Reading a `multipart/form-data` body part by part, in constant memory.

python-multipart's `MultipartParser` is push-based: it calls back while `write()` parses a
chunk. This turns it into a pull-based reader whose parts hand out their data as an async
iterator, so a file part can be passed straight to `ObjectStore.put_stream`. At most one
request chunk (plus the events it produced) is held at a time; nothing is spooled.

Starlette's `request.form()` / `UploadFile` is not used: it spools every file part to a
temporary file (in memory up to 1 MB) before the endpoint runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_PARTS = 16
"""More parts than any form of ours has: a body made of thousands of tiny parts is refused."""


class NotMultipart(Exception):
    """The body is not `multipart/form-data`."""


class MalformedForm(Exception):
    """The body is not valid multipart data, or ended before its closing boundary."""


class PartTooLarge(Exception):
    """`FormPart.read` got more than its limit."""


_END: Final = object()
_PART_END: Final = object()


@dataclass
class _PartStart:
    headers: list[tuple[bytes, bytes]]


class FormPart:
    """One part; its data must be read (or skipped) before the next part is asked for."""

    def __init__(
        self, form: FormStream, name: str, filename: str | None, content_type: str
    ) -> None:
        self._form = form
        self.name = name
        self.filename = filename
        """None for plain fields; may be empty for a file input nothing was chosen in."""
        self.content_type = content_type
        self.finished = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The part's data as it arrives (chunks may be empty)."""
        while not self.finished:
            event = await self._form._next_event()
            if isinstance(event, bytes):
                yield event
            elif event is _PART_END:
                self.finished = True
            else:  # a new part or the end without this one's end: the parser never does this
                raise MalformedForm("unexpected multipart event")

    async def read(self, limit: int) -> bytes:
        """The whole part, for small fields; `PartTooLarge` past `limit` bytes."""
        data = bytearray()
        async for chunk in self.chunks():
            data += chunk
            if len(data) > limit:
                raise PartTooLarge(self.name)
        return bytes(data)

    async def skip(self) -> None:
        async for _ in self.chunks():
            pass


@dataclass
class _Collector:
    """The parser's callbacks, collecting events for the reader to pull."""

    events: deque[object] = field(default_factory=deque)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    ended: bool = False

    def on_part_begin(self) -> None:
        self.headers = []

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers.append((bytes(self.header_name).lower(), bytes(self.header_value)))
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        self.events.append(_PartStart(self.headers))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self.events.append(data[start:end])

    def on_part_end(self) -> None:
        self.events.append(_PART_END)

    def on_end(self) -> None:
        self.ended = True
        self.events.append(_END)


class FormStream:
    """`async for part in FormStream(content_type, chunks).parts(): ...`"""

    def __init__(self, content_type: str | None, chunks: AsyncIterator[bytes]) -> None:
        media_type, params = parse_options_header(content_type or "")
        if media_type != b"multipart/form-data":
            raise NotMultipart(media_type.decode("latin-1"))
        boundary = params.get(b"boundary")
        if not boundary:
            raise MalformedForm("no boundary")
        self._collector = _Collector()
        c = self._collector
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": c.on_part_begin,
                    "on_part_data": c.on_part_data,
                    "on_part_end": c.on_part_end,
                    "on_header_field": c.on_header_field,
                    "on_header_value": c.on_header_value,
                    "on_header_end": c.on_header_end,
                    "on_headers_finished": c.on_headers_finished,
                    "on_end": c.on_end,
                },
            )
        except FormParserError as exc:  # e.g. an absurdly long boundary
            raise MalformedForm(str(exc)) from None
        self._chunks = chunks.__aiter__()
        self._finished = False

    async def parts(self) -> AsyncIterator[FormPart]:
        count = 0
        current: FormPart | None = None
        while True:
            if current is not None and not current.finished:
                await current.skip()  # the caller did not want the rest of it
            event = await self._next_event()
            if event is _END:
                self._finished = True
                return
            if not isinstance(event, _PartStart):
                raise MalformedForm("unexpected multipart event")
            count += 1
            if count > MAX_PARTS:
                raise MalformedForm("too many parts")
            current = _part(self, event.headers)
            yield current

    async def _next_event(self) -> object:
        events = self._collector.events
        while not events:
            if self._collector.ended:
                return _END
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                raise MalformedForm("the body ended before the closing boundary") from None
            try:
                self._parser.write(chunk)
            except FormParserError as exc:
                raise MalformedForm(str(exc)) from None
        return events.popleft()


def _part(form: FormStream, headers: list[tuple[bytes, bytes]]) -> FormPart:
    disposition = next((v for k, v in headers if k == b"content-disposition"), b"")
    kind, options = parse_options_header(disposition)
    if kind != b"form-data" or b"name" not in options:
        raise MalformedForm("a part without a form-data name")
    # browsers send names as raw UTF-8; parse_options_header handed them back as latin-1 bytes
    name = options[b"name"].decode("utf-8", errors="replace")
    filename = options.get(b"filename")
    content_type = next((v for k, v in headers if k == b"content-type"), b"")
    media_type, _ = parse_options_header(content_type)
    return FormPart(
        form,
        name,
        None if filename is None else filename.decode("utf-8", errors="replace"),
        media_type.decode("latin-1"),
    )
