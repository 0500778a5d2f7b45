"""The `hatoba` command line: a thin client of the service's Docker Engine API.

Start-up cost matters (one process per command), so these modules import only cheap standard
modules and nothing of the engine; see main.py for the exit statuses.
"""
