"""`make dev`: run the whole platform in one process on 127.0.0.1:$PORT."""

from __future__ import annotations

import argparse

import uvicorn

from allinone.app import build_app, embedded_settings
from common.config import Settings
from common.heap import freeze_after_startup
from common.httpserver import server_options
from common.logging import configure_logging
from common.metrics import serve_metrics


def banner(settings: Settings) -> str:
    mail = (
        f"SMTP {settings.smtp_host}:{settings.smtp_port}"
        if settings.smtp_host
        else f"the console and {settings.data_dir / 'outbox'}/*.eml"
    )
    lines = [
        "Videoflix is running (all-in-one)",
        f"  API:       http://127.0.0.1:{settings.port}/api/   docs: /api/docs",
        f"  Admin:     {settings.admin_email} / {settings.admin_password}",
        f"  Mail goes: to {mail}",
        f"  Data:      {settings.data_dir}",
        f"  Frontend:  {settings.frontend_url} (CORS: {', '.join(settings.cors_origins)})",
    ]
    width = max(len(line) for line in lines)
    return "\n".join(["=" * width, *lines, "=" * width])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m allinone")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    settings = embedded_settings(Settings())
    configure_logging("allinone", level=settings.log_level, json=False)
    print(banner(settings), flush=True)
    serve_metrics(settings.metrics_port, "127.0.0.1", allinone=True)  # one for the process
    app = freeze_after_startup(build_app(settings))  # no collector walk over it under load
    uvicorn.run(app, host=args.host, port=settings.port, **server_options(settings))


if __name__ == "__main__":
    main()
