"""One error tree for the whole engine.

    HatobaError                  500  anything unexpected
    ├── InvalidArgument          400  bad input: names, CIDRs, flags, archives
    │   └── NotRunnable          400  the executable is missing (exit 127) or cannot run (126)
    ├── NotFound                 404  unknown network, container, image, exec
    ├── Conflict                 409  names, subnets, addresses or ports in use; wrong state
    ├── Forbidden                403  operations on predefined networks
    ├── NotModified              304  start of a running container, stop of a stopped one
    ├── Unavailable              503  swarm requests: this node is in no swarm
    ├── KernelError              500  a netlink, mount, nftables or process step failed
    └── StoreError               500  the state database is unreadable

`message` is the exact text Docker puts after "Error response from daemon: ".
The API server maps `status` to the HTTP status; the CLI maps the status back to an exit code.
"""

from __future__ import annotations


class HatobaError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(HatobaError):
    status = 400


class NotRunnable(InvalidArgument):
    """A container's executable that could not be started (Docker's startInvalidConfigError),
    with the exit code Docker records for it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotFound(HatobaError):
    status = 404


class Conflict(HatobaError):
    status = 409


class Forbidden(HatobaError):
    status = 403


class NotModified(HatobaError):
    status = 304


class Unavailable(HatobaError):
    status = 503


class KernelError(HatobaError):
    status = 500

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class StoreError(HatobaError):
    status = 500


_BY_STATUS: dict[int, type[HatobaError]] = {
    cls.status: cls
    for cls in (InvalidArgument, NotFound, Conflict, Forbidden, NotModified, Unavailable)
}


def from_status(status: int, message: str) -> HatobaError:
    """Rebuild the error a service answered with (used by clients of the API)."""
    return _BY_STATUS.get(status, HatobaError)(message)
