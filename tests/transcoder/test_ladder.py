"""The ladder is a pure function of the displayed size and frame rate."""

from __future__ import annotations

from fractions import Fraction

import pytest

from transcoder.ladder import RUNGS, even, output_frame_rate, plan_ladder


def sizes(width: int, height: int, **kwargs: object) -> dict[str, tuple[int, int]]:
    return {r.name: (r.width, r.height) for r in plan_ladder(width, height, **kwargs)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1920, 1080, {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}),
        (3840, 2160, {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}),
        (1280, 720, {"480p": (854, 480), "720p": (1280, 720)}),
        (1279, 719, {"480p": (854, 480)}),  # one line short of 720p: never upscaled
        (854, 480, {"480p": (854, 480)}),
        (640, 480, {"480p": (640, 480)}),  # 4:3
        (320, 240, {"480p": (640, 480)}),  # below 480: still one 480p, scaled up
        (853, 479, {"480p": (854, 480)}),
        (641, 361, {"480p": (852, 480)}),
        (1920, 800, {"480p": (1152, 480), "720p": (1728, 720)}),  # 2.4:1 cinema
        (1080, 1080, {"480p": (480, 480), "720p": (720, 720), "1080p": (1080, 1080)}),
    ],
)
def test_landscape_and_square_rungs_follow_the_height(
    width: int, height: int, expected: dict[str, tuple[int, int]]
) -> None:
    assert sizes(width, height) == expected


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (720, 1280, {"480p": (480, 854), "720p": (720, 1280)}),
        (1080, 1920, {"480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920)}),
        (360, 640, {"480p": (480, 854)}),
        (479, 853, {"480p": (480, 854)}),
    ],
)
def test_portrait_rungs_are_named_by_the_short_side(
    width: int, height: int, expected: dict[str, tuple[int, int]]
) -> None:
    assert sizes(width, height) == expected


def test_no_rung_is_larger_than_the_source_on_either_axis() -> None:
    for width, height in [(1920, 1080), (1080, 1920), (1281, 721), (721, 1281), (2000, 1000)]:
        for r in plan_ladder(width, height):
            assert r.width <= width + 1 and r.height <= height + 1


def test_every_dimension_is_even() -> None:
    for width in range(481, 2000, 37):
        for height in range(480, 1200, 41):
            for r in plan_ladder(width, height):
                assert r.width % 2 == 0 and r.height % 2 == 0


def test_an_exact_aspect_ratio_beats_rounded_pixels() -> None:
    # 720x576 PAL with 16:9 pixels: displayed 1024x576
    assert sizes(1024, 576, aspect=Fraction(16, 9)) == {"480p": (854, 480)}


def test_bitrates_scale_with_area_and_frame_rate() -> None:
    base = {r.name: r for r in plan_ladder(1920, 1080, Fraction(30))}
    fast = {r.name: r for r in plan_ladder(1920, 1080, Fraction(60))}
    narrow = {r.name: r for r in plan_ladder(640, 480)}
    assert base["1080p"].maxrate_kbps == RUNGS[2].maxrate_kbps
    assert fast["1080p"].maxrate_kbps > base["1080p"].maxrate_kbps
    assert narrow["480p"].maxrate_kbps < base["480p"].maxrate_kbps
    for r in base.values():
        assert r.bufsize_kbps >= r.maxrate_kbps
    ordered = [base[n].maxrate_kbps for n in ("480p", "720p", "1080p")]
    assert ordered == sorted(ordered)


def test_frame_rates_above_60_are_halved() -> None:
    assert output_frame_rate(Fraction(120)) == 60
    assert output_frame_rate(Fraction(100)) == 50
    assert output_frame_rate(Fraction(30000, 1001)) == Fraction(30000, 1001)
    assert output_frame_rate(None) == 30


def test_even() -> None:
    assert [even(x) for x in (0.4, 1, 2.9, 853.33, 854.78)] == [2, 2, 2, 854, 854]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_ladder(0, 1080)
