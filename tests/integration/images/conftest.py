from __future__ import annotations

from fixtures.busybox_images import busybox_archive, busybox_images

__all__ = ["busybox_archive", "busybox_images"]
