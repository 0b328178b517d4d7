"""Media tasks: make a product image's renditions (metadata stripped), delete a removed image's files."""

from __future__ import annotations

from celery import shared_task

from shop.media import services


@shared_task(name="shop.media.process_image", ignore_result=True)
def process_image_task(image_id: int) -> str:
    """Strip an uploaded image's metadata and write its WebP and JPEG renditions; safe to run twice."""
    return services.process_image(image_id)


@shared_task(name="shop.media.purge_files", ignore_result=True)
def purge_files_task(key: str) -> None:
    """Delete the files of an image that was removed from its product."""
    services.purge_files(key)
