"""Code shared by every Videoflix service: configuration, ports and their adapters, events."""
