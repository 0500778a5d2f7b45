"""hatoba: a Docker-compatible container networking engine on Linux kernel primitives."""

__version__ = "0.1.0"
API_VERSION = "1.41"
# the oldest API version a client may ask for (/v1.24/...)
MIN_API_VERSION = "1.24"
