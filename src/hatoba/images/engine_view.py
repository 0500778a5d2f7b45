"""The engine's view of the image store: what creating and starting a container needs."""

from __future__ import annotations

from hatoba.images.store import Image, ImageStore
from hatoba.model.image import ImageInfo


class EngineImages:
    """Matches `hatoba.engine.ports.Images`."""

    def __init__(self, store: ImageStore) -> None:
        self._store = store

    def resolve(self, reference: str) -> ImageInfo:
        return self._info(self._store.resolve(reference), reference)

    def get(self, image_id: str) -> ImageInfo:
        image = self._store.get(image_id)
        return self._info(image, image.repo_tags[0] if image.repo_tags else image_id)

    def release(self, image_id: str) -> None:
        self._store.release(image_id)

    def _info(self, image: Image, reference: str) -> ImageInfo:
        config = image.config
        return ImageInfo(
            id=image.id,
            reference=reference,
            cmd=config.cmd or (),
            entrypoint=config.entrypoint or (),
            env=config.env,
            workdir=config.workdir,
            exposed_ports=config.exposed_ports,
            user=config.user,
            healthcheck=config.healthcheck,
            volumes=config.volumes,
            layers=tuple(str(d) for d in self._store.layer_dirs(image)),
        )
