"""Parsing FFmpeg's -progress blocks and throttling what is published."""

from __future__ import annotations

from transcoder.progress import ProgressParser, ProgressThrottle, percent_of

BLOCK = """frame=90
fps=0.00
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us={us}
out_time_ms={us}
out_time={clock}
dup_frames=0
drop_frames=0
speed=13.3x
progress={state}
"""


def feed(parser: ProgressParser, text: str) -> list:
    return [s for line in text.splitlines() if (s := parser.feed(line)) is not None]


def test_a_block_yields_one_snapshot_at_its_end() -> None:
    parser = ProgressParser()
    snaps = feed(parser, BLOCK.format(us=1500000, clock="00:00:01.500000", state="continue"))
    assert len(snaps) == 1
    assert snaps[0].out_time == 1.5 and not snaps[0].ended
    snaps = feed(parser, BLOCK.format(us=3029333, clock="00:00:03.029333", state="end"))
    assert snaps[0].out_time == 3.029333 and snaps[0].ended
    assert parser.last_out_time == 3.029333


def test_na_positions_fall_back_or_stay_unknown() -> None:
    parser = ProgressParser()
    snaps = feed(parser, "out_time_us=N/A\nout_time=N/A\nprogress=continue\n")
    assert snaps[0].out_time is None
    snaps = feed(parser, "out_time_us=N/A\nout_time=01:02:03.5\nprogress=continue\n")
    assert snaps[0].out_time == 3723.5
    snaps = feed(parser, "out_time_ms=2000000\nprogress=continue\n")  # microseconds, really
    assert snaps[0].out_time == 2.0
    assert feed(parser, "garbage without equals\n") == []


def test_percent_is_0_to_99() -> None:
    assert percent_of(0, 10) == 0
    assert percent_of(5, 10) == 50
    assert percent_of(9.999, 10) == 99
    assert percent_of(10, 10) == 99
    assert percent_of(12, 10) == 99
    assert percent_of(-1, 10) == 0
    assert percent_of(1, 0) == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_is_monotonic_and_once_a_second() -> None:
    clock = FakeClock()
    throttle = ProgressThrottle(1.0, clock=clock)
    assert throttle.offer(0) == 0
    assert throttle.offer(5) is None  # same instant
    clock.now += 0.5
    assert throttle.offer(10) is None
    clock.now += 0.5
    assert throttle.offer(12) == 12
    clock.now += 5
    assert throttle.offer(12) is None  # not higher
    assert throttle.offer(3) is None  # never backwards
    assert throttle.offer(40) == 40
    published = []
    for step in range(100):
        clock.now += 0.1
        if (p := throttle.offer(40 + step // 2)) is not None:
            published.append(p)
    assert published == sorted(set(published))
    assert len(published) <= 10
