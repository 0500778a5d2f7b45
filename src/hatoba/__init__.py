"""hatoba: a Docker-compatible container networking engine on Linux kernel primitives."""

__version__ = "0.1.0"
API_VERSION = "1.41"
# the oldest API version a client may ask for (/v1.12/...), as Docker 20.10
MIN_API_VERSION = "1.12"
