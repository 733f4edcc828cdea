"""Catalog: video metadata, the admin endpoint, HLS delivery; consumes transcoder results."""
