"""Cookie and header names of the contract, in one place."""

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
