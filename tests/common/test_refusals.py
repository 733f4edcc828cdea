"""Every refusal kind, answered by the one handler of `common.errors` in the contract's shape."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from common import refusals
from common.errors import STATUS_MESSAGES, install_error_handlers

KINDS: list[tuple[type[refusals.Refusal], int]] = [
    (refusals.Invalid, 400),
    (refusals.Unauthorized, 401),
    (refusals.Forbidden, 403),
    (refusals.NotFound, 404),
    (refusals.Conflict, 409),
    (refusals.TooLarge, 413),
    (refusals.Unsupported, 415),
    (refusals.RateLimited, 429),
]


class LinkGone(refusals.Invalid):
    default_message = "Activation link is invalid or expired."
    message_key = "message"


async def answer(refusal: refusals.Refusal) -> httpx.Response:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/")
    async def refuse() -> None:
        raise refusal

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.get("/")


def test_every_kind_has_a_status() -> None:
    assert {cls.kind for cls, _ in KINDS} == set(refusals.RefusalKind)


@pytest.mark.parametrize(("kind", "status"), KINDS)
async def test_a_kind_answers_with_its_status_and_message(
    kind: type[refusals.Refusal], status: int
) -> None:
    response = await answer(kind("Because."))
    assert response.status_code == status
    assert response.json() == {"detail": "Because."}


@pytest.mark.parametrize(("kind", "status"), KINDS)
async def test_without_a_message_the_status_wording_is_used(
    kind: type[refusals.Refusal], status: int
) -> None:
    response = await answer(kind())
    assert response.status_code == status
    assert response.json() == {"detail": STATUS_MESSAGES[status]}


async def test_fields_are_the_body() -> None:
    response = await answer(refusals.TooLarge(fields={"thumbnail": ["Too big.", "Really."]}))
    assert response.status_code == 413
    assert response.json() == {"thumbnail": ["Too big.", "Really."]}


async def test_a_subclass_brings_its_message_and_key() -> None:
    response = await answer(LinkGone())
    assert response.status_code == 400
    assert response.json() == {"message": "Activation link is invalid or expired."}


def test_invalid_joins_problems_with_the_whole_input_into_one_message() -> None:
    whole = refusals.invalid({"detail": ["Malformed JSON body.", "Again."]})
    assert (whole.message, whole.fields) == ("Malformed JSON body. Again.", None)
    per_field = refusals.invalid({"title": ["Blank."], "detail": ["Odd."]})
    assert (per_field.message, per_field.fields) == (
        None,
        {"title": ["Blank."], "detail": ["Odd."]},
    )
