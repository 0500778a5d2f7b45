"""hatoba: a Docker-compatible container networking engine on Linux kernel primitives."""

__version__ = "0.1.0"
API_VERSION = "1.41"
