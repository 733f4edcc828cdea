"""Transcoder: one FFmpeg run per uploaded video -> HLS ladder and thumbnail."""
