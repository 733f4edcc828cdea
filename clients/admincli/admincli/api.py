"""An httpx client of the gateway's admin API (ADMIN_API.md, CONTRACT.md).

It authenticates with `Authorization: Bearer <access token>` and sends no cookie but the
refresh token to `/api/token/refresh/`: the gateway prefers the `access_token` cookie when
both come, and a cookie-authenticated write would need the `X-CSRFToken` header, a Bearer
one needs none. An answer of 401 refreshes the tokens once (the refresh token rotates, so
the new pair is saved at once) and repeats the request.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

import httpx

from admincli.errors import ApiError, CliError, NetworkError, NotLoggedIn, error_message
from admincli.events import parse_events
from admincli.session import Credentials, SessionStore, normalise_url
from admincli.wire import listed, no_cookie_jar, one, set_cookies

Body = bytes | Callable[[], Iterable[bytes]]
"""A request body; a function when it streams, called afresh if the request is repeated."""

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class AdminApi:
    def __init__(
        self,
        url: str,
        *,
        store: SessionStore | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = normalise_url(url)
        self.store = store or SessionStore(self.url)
        self.http = httpx.Client(
            base_url=self.url,
            timeout=TIMEOUT,
            transport=transport,
            cookies=no_cookie_jar(),
            headers={"Accept": "application/json", "User-Agent": "videoflix-admin"},
        )
        self._credentials: Credentials | None = None

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    # ------------------------------------------------------------------ sending

    def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """One exchange; a network failure becomes a `CliError` that says where and why."""
        try:
            return self.http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise NetworkError(
                f"{self.url} did not answer in time ({type(exc).__name__})."
            ) from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise NetworkError(f"Cannot reach {self.url}: {reason}.") from exc

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = self.store.load()
        if self._credentials is None:
            raise NotLoggedIn(f"Not logged in to {self.url}: run `videoflix-admin login` first.")
        return self._credentials

    def _build(
        self,
        method: str,
        path: str,
        *,
        content: Body | None,
        json: Any,
        params: dict[str, str] | None,
        headers: dict[str, str] | None,
        timeout: httpx.Timeout | None,
    ) -> httpx.Request:
        body = content() if callable(content) else content
        return self.http.build_request(
            method,
            path,
            content=body,
            json=json,
            params=params,
            headers={"Authorization": f"Bearer {self.credentials.access}", **(headers or {})},
            timeout=timeout or TIMEOUT,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        content: Body | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        allow: Collection[int] = (),
        stream: bool = False,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """An authenticated request (refreshing the tokens once on a 401). An error status
        not in `allow` raises `ApiError` with the API's message."""
        args = {
            "content": content,
            "json": json,
            "params": params,
            "headers": headers,
            "timeout": timeout,
        }
        response = self.send(self._build(method, path, **args), stream=stream)
        if response.status_code == 401:
            response.close()
            self.refresh()
            response = self.send(self._build(method, path, **args), stream=stream)
        if response.status_code >= 400 and response.status_code not in allow:
            if stream:
                response.read()
            raise ApiError(response)
        return response

    # ------------------------------------------------------------------ the session

    def login(self, email: str, password: str) -> Credentials:
        response = self.send(
            self.http.build_request(
                "POST", "/api/login/", json={"email": email, "password": password}
            )
        )
        if response.status_code != 200:
            raise ApiError(response)
        cookies = set_cookies(response)
        if "access_token" not in cookies or "refresh_token" not in cookies:
            raise CliError(f"{self.url} answered the login without the session cookies.")
        self._credentials = Credentials(
            email=email,
            access=cookies["access_token"],
            refresh=cookies["refresh_token"],
            csrf=cookies.get("csrftoken", ""),
        )
        probe = self.request("HEAD", "/api/admin/videos/", allow=(403,))
        if probe.status_code == 403:
            self._credentials = None
            raise CliError(f"{email} is not an admin: the admin API refuses this account.")
        self.store.save(self._credentials)
        return self._credentials

    def refresh(self) -> Credentials:
        """New tokens from the refresh token; saved before anything else (the old refresh
        token is spent)."""
        old = self.credentials
        response = self.send(
            self.http.build_request(
                "POST", "/api/token/refresh/", headers={"Cookie": f"refresh_token={old.refresh}"}
            )
        )
        if response.status_code in (400, 401):
            self._credentials = None
            self.store.clear()
            raise NotLoggedIn(
                f"The session at {self.url} has ended ({error_message(response)}): "
                "run `videoflix-admin login` again."
            )
        if response.status_code != 200:
            raise ApiError(response)
        cookies = set_cookies(response)
        access = cookies.get("access_token") or str(one(response).get("access", ""))
        self._credentials = Credentials(
            email=old.email,
            access=access,
            refresh=cookies.get("refresh_token", old.refresh),
            csrf=cookies.get("csrftoken", old.csrf),
        )
        self.store.save(self._credentials)
        return self._credentials

    def logout(self) -> None:
        """Ends the session on the server (a cookie-authenticated call: it needs the
        csrftoken) and forgets it here, whatever the server said."""
        creds = self.store.load()
        self.store.clear()
        if creds is None:
            return
        cookie = f"refresh_token={creds.refresh}; csrftoken={creds.csrf}"
        request = self.http.build_request(
            "POST", "/api/logout/", headers={"Cookie": cookie, "X-CSRFToken": creds.csrf}
        )
        response = self.send(request)
        if response.status_code >= 400 and response.status_code not in (400, 401):
            raise ApiError(response)

    # ------------------------------------------------------------------ videos

    def videos(self) -> list[dict[str, Any]]:
        return listed(self.request("GET", "/api/admin/videos/"))

    def video(self, video_id: int) -> dict[str, Any]:
        return one(self.request("GET", f"/api/admin/videos/{video_id}/"))

    def find_video(self, video_id: int) -> dict[str, Any] | None:
        response = self.request("GET", f"/api/admin/videos/{video_id}/", allow=(404,))
        return None if response.status_code == 404 else one(response)

    def retry(self, video_id: int) -> dict[str, Any]:
        return one(self.request("POST", f"/api/admin/videos/{video_id}/retry/"))

    def delete(self, video_id: int) -> None:
        self.request("DELETE", f"/api/admin/videos/{video_id}/")

    def events(self) -> Iterator[tuple[str, Any]]:
        """The admin event stream, `(event, data)` as they come (data decoded from JSON)."""
        response = self.request(
            "GET",
            "/api/admin/events/",
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=httpx.Timeout(30.0, connect=10.0, read=60.0),  # keep-alive every 15 s
        )
        try:
            yield from parse_events(response.iter_lines())
        except httpx.TransportError as exc:
            raise NetworkError(f"The event stream of {self.url} broke off: {exc}.") from exc
        finally:
            response.close()

    # ------------------------------------------------------------------ users

    def users(self, search: str | None = None) -> list[dict[str, Any]]:
        params = {"search": search} if search else None
        return listed(self.request("GET", "/api/admin/users/", params=params))

    def set_active(self, user_id: int, active: bool) -> dict[str, Any]:
        path = f"/api/admin/users/{user_id}/"
        return one(self.request("PATCH", path, json={"is_active": active}))
