"""The object-store port: S3 (minio SDK) or a local directory, picked from the settings."""

from common.storage.port import ObjectInfo, ObjectNotFound, ObjectStore

__all__ = ["ObjectInfo", "ObjectNotFound", "ObjectStore", "create_object_store"]


def create_object_store(settings) -> ObjectStore:  # type: ignore[no-untyped-def]
    if settings.s3_endpoint:
        from common.storage.s3 import S3ObjectStore

        return S3ObjectStore(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    from common.storage.local import LocalObjectStore

    return LocalObjectStore(settings.data_dir / "objects")
