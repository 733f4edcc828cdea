"""Identity: accounts, activation, login sessions, password reset; signs access tokens."""
