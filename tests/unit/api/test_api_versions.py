"""API versions in the path: every version from the oldest to this server's is served, the
others refused with Docker's words."""

from __future__ import annotations

import pytest

from hatoba.api.http import Request, Response, Router
from hatoba.errors import InvalidArgument


async def ping(req: Request) -> Response:
    return Response()


@pytest.mark.parametrize("path", ["/_ping", "/v1.41/_ping", "/v1.24/_ping", "/v1.12/_ping"])
def test_versions_this_server_speaks(path: str) -> None:
    router = Router()
    router.add("GET", "/_ping", ping)
    assert router.match("GET", path)[0] is ping


def test_versions_out_of_range_are_refused_as_docker_refuses_them() -> None:
    router = Router()
    router.add("GET", "/_ping", ping)
    with pytest.raises(InvalidArgument) as new:
        router.match("GET", "/v1.42/_ping")
    assert new.value.message == (
        "client version 1.42 is too new. Maximum supported API version is 1.41"
    )
    with pytest.raises(InvalidArgument) as old:
        router.match("GET", "/v1.11/_ping")
    assert old.value.message == (
        "client version 1.11 is too old. Minimum supported API version is 1.12, please "
        "upgrade your client to a newer version"
    )
