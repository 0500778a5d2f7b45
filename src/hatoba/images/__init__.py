"""Images from files (no registry): a content-addressed store under the state root that
imports root file system tarballs, loads and saves `docker save` / OCI archives, and hands the
runtime the extracted layers."""

from hatoba.images.store import Image, ImageConfig, ImageStore

__all__ = ["Image", "ImageConfig", "ImageStore"]
