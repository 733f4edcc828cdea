"""The S3 adapter's start-up clean-up: abort multipart uploads whose writer died.

A writer that dies mid-upload (a killed catalog) leaves its multipart upload open; S3 keeps
its parts, invisible to listings but stored and billed, until someone aborts it. An upload is
taken for abandoned once neither its start nor any of its parts is newer than the cut-off.
The minio SDK has no public call for listing and aborting uploads; its private ones are the
plain S3 APIs (ListMultipartUploads, ListParts, AbortMultipartUpload).
"""

from __future__ import annotations

from datetime import UTC, datetime

from minio import Minio
from minio.datatypes import Upload
from minio.error import S3Error

_GONE = "NoSuchUpload"
"""The upload was completed or aborted meanwhile: nothing to do."""


def abort_stale_uploads(client: Minio, bucket: str, cutoff: datetime) -> int:
    """Abort the uploads of `bucket` untouched since `cutoff`; returns how many. Blocking."""
    aborted = 0
    key_marker: str | None = None
    upload_id_marker: str | None = None
    while True:
        page = client._list_multipart_uploads(
            bucket, key_marker=key_marker, upload_id_marker=upload_id_marker
        )
        for upload in page.uploads:
            if upload.upload_id is None or last_touched(client, bucket, upload) >= cutoff:
                continue
            try:
                client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)
            except S3Error as exc:
                if exc.code != _GONE:
                    raise
                continue
            aborted += 1
        if not page.is_truncated or not page.uploads:
            return aborted
        # the markers of the page's last entry (the SDK mislays NextUploadIdMarker)
        key_marker = page.uploads[-1].object_name
        upload_id_marker = page.uploads[-1].upload_id


def last_touched(client: Minio, bucket: str, upload: Upload) -> datetime:
    """When `upload` started or last received a part; now when that is unknown."""
    now = datetime.now(UTC)
    assert upload.upload_id is not None
    latest = upload.initiated_time
    marker: str | None = None
    while True:
        try:
            page = client._list_parts(
                bucket, upload.object_name, upload.upload_id, part_number_marker=marker
            )
        except S3Error as exc:
            if exc.code == _GONE:
                return now
            raise
        for part in page.parts:
            if part.last_modified is not None and (latest is None or part.last_modified > latest):
                latest = part.last_modified
        if not page.is_truncated or not page.parts:
            return latest or now
        marker = str(page.parts[-1].part_number)
