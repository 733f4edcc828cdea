"""Transcoder: one FFmpeg run per uploaded video -> HLS ladder and thumbnail."""

from common.service import main
from transcoder.app import PORTS, create_app

main("transcoder", create_app, default_port=8003, ports=PORTS)
