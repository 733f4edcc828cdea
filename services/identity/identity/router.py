"""The authentication endpoints of CONTRACT.md: parse, call the service, shape the answer.

A refusal of the service (`identity.service`) is answered by the shared handler of
`common.errors`, as are the routes' own (a missing refresh cookie).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Cookie, Depends, Header, Response
from fastapi.responses import JSONResponse

from common.config import Settings
from common.errors import ApiError
from common.http import SlashOptionalRouter
from common.openapi import error_responses
from common.refusals import Invalid
from common.security.cookies import CSRF_HEADER, REFRESH_COOKIE
from identity import cookies, schemas
from identity.dependencies import get_accounts, get_client_address, get_settings
from identity.refusals import TooManyAttempts
from identity.service import AccountService, IssuedSession

router = SlashOptionalRouter(prefix="/api", tags=["authentication"])

Accounts = Annotated[AccountService, Depends(get_accounts)]
Config = Annotated[Settings, Depends(get_settings)]
ClientAddress = Annotated[str, Depends(get_client_address)]
RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE, include_in_schema=False)]
CsrfHeader = Annotated[str, Header(alias=CSRF_HEADER, include_in_schema=False)]

REFRESH_COOKIE_MISSING = "Refresh token not found."


@router.post(
    "/register/",
    status_code=201,
    response_model=schemas.RegisterOut,
    responses=error_responses(400),
)
async def register(body: schemas.RegisterIn, accounts: Accounts) -> schemas.RegisterOut:
    user = await accounts.register(body.email, body.password, body.confirmed_password)
    return schemas.RegisterOut(user=schemas.PublicUser(id=user.id, email=user.email))


@router.get(
    "/activate/{uidb64}/{token}/",
    response_model=schemas.MessageOut,
    responses={400: {"model": schemas.MessageOut}},
)
async def activate(uidb64: str, token: str, accounts: Accounts) -> schemas.MessageOut:
    await accounts.activate(uidb64, token)
    return schemas.MessageOut(message="Account successfully activated.")


@router.post(
    "/login/", response_model=schemas.LoginOut, responses=error_responses(400, 401, 403, 429)
)
async def login(
    body: schemas.LoginIn, accounts: Accounts, settings: Config, client: ClientAddress
) -> JSONResponse:
    try:
        issued = await accounts.login(body.email, body.password, client=client)
    except TooManyAttempts as exc:  # the one refusal that needs a header
        raise ApiError(429, headers={"Retry-After": str(exc.retry_after_seconds)}) from None
    out = schemas.LoginOut(user=schemas.LoginUser(id=issued.user.id, username=issued.user.email))
    response = JSONResponse(out.model_dump())
    _set_session_cookies(response, settings, issued)
    return response


def _set_session_cookies(response: Response, settings: Settings, issued: IssuedSession) -> None:
    if issued.refresh_token is None:  # a concurrent refresh: its twin set the other two
        cookies.set_access_cookie(response, settings, issued.access_token)
        return
    cookies.set_session_cookies(
        response,
        settings,
        access=issued.access_token,
        refresh=issued.refresh_token,
        csrf=issued.csrf_token,
        refresh_seconds=issued.refresh_seconds,
    )


@router.post("/logout/", response_model=schemas.DetailOut, responses=error_responses(400, 403))
async def logout(
    accounts: Accounts, settings: Config, refresh: RefreshCookie = None, csrf: CsrfHeader = ""
) -> JSONResponse:
    if not refresh:
        raise Invalid(REFRESH_COOKIE_MISSING)
    await accounts.logout(refresh, csrf)
    response = JSONResponse(
        {"detail": "Logout successful! All tokens will be deleted. Refresh token is now invalid."}
    )
    cookies.delete_session_cookies(response, settings)
    return response


@router.post(
    "/token/refresh/", response_model=schemas.RefreshOut, responses=error_responses(400, 401)
)
async def refresh_token(
    accounts: Accounts, settings: Config, refresh: RefreshCookie = None
) -> JSONResponse:
    if not refresh:
        raise Invalid(REFRESH_COOKIE_MISSING)
    issued = await accounts.refresh(refresh)  # rotated, with the csrftoken renewed
    response = JSONResponse(schemas.RefreshOut(access=issued.access_token).model_dump())
    _set_session_cookies(response, settings, issued)
    return response


@router.post("/password_reset/", response_model=schemas.DetailOut, responses=error_responses(400))
async def password_reset(body: schemas.PasswordResetIn, accounts: Accounts) -> Response:
    await accounts.request_password_reset(body.email)
    return JSONResponse({"detail": "An email has been sent to reset your password."})


@router.post(
    "/password_confirm/{uidb64}/{token}/",
    response_model=schemas.DetailOut,
    responses=error_responses(400, 429),  # 429: more hashes waiting than the pool admits
)
async def password_confirm(
    uidb64: str, token: str, body: schemas.PasswordConfirmIn, accounts: Accounts
) -> schemas.DetailOut:
    await accounts.confirm_password_reset(uidb64, token, body.new_password, body.confirm_password)
    return schemas.DetailOut(detail="Your Password has been successfully reset.")
