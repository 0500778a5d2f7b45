"""libnftables through ctypes: one context per network namespace, JSON in, one transaction per call.

A context opens its netlink socket when it is created, so a context made inside a namespace
keeps acting on that namespace. Through the library a transaction costs ~0.1 ms; the `nft`
binary would cost ~2 ms per call.

libnftables select()s on that socket, so a process whose socket gets a number past 1024 is
aborted by glibc: the service uses these contexts only through its helper process
(`kernel/nft_helper.py`, enforced by import-linter); tests may use them directly.
"""

from __future__ import annotations

import ctypes
import json
import threading
from typing import Any

from hatoba.errors import KernelError

_NFT_CTX_OUTPUT_JSON = 1 << 4
_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def _library() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is None:
            try:
                lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
            except OSError as exc:
                raise KernelError(f"libnftables is not installed: {exc}") from exc
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
            lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            _lib = lib
        return _lib


class NftContext:
    """A libnftables context bound to the network namespace of the thread that created it."""

    def __init__(self) -> None:
        lib = _library()
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        if not self._ctx:
            raise KernelError("nft_ctx_new failed")
        lib.nft_ctx_output_set_flags(self._ctx, _NFT_CTX_OUTPUT_JSON)
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)
        self._lock = threading.Lock()

    def run(self, command: str) -> str:
        """Run nft commands (text or a JSON document) as one transaction; return the output."""
        with self._lock:
            if not self._ctx:
                raise KernelError("nftables context is closed")
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, command.encode())
            out = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
            err = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if rc != 0:
            raise KernelError(f"nftables: {err.strip() or 'transaction failed'}")
        return out

    def run_json(self, document: dict[str, Any]) -> dict[str, Any]:
        out = self.run(json.dumps(document))
        return json.loads(out) if out.strip() else {}

    def list_ruleset(self) -> dict[str, Any]:
        return self.run_json({"nftables": [{"list": {"ruleset": None}}]})

    def close(self) -> None:
        with self._lock:
            if self._ctx:
                self._lib.nft_ctx_free(self._ctx)
                self._ctx = None

    def __enter__(self) -> NftContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
