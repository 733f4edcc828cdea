"""The public HTTP entry of Videoflix: CORS, CSRF, token verification, rate limits and a
streaming reverse proxy to the identity and catalog services."""
