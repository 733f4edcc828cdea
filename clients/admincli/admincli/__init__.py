"""`videoflix-admin`: the admins' command line. It speaks HTTP to the gateway's admin API only
(any deployment, `--url`), never to a service's code: an import-linter contract holds it to that."""
