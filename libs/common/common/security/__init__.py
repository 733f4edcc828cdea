"""Token signing and verification, revocation markers, and the trusted identity headers."""
