"""S3 adapter: read a source object with a size limit."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hdr_ingest.adapters.aws.clients import client_source
from hdr_ingest.core.ports import ObjectReadError, StoredObject
from hdr_ingest.core.source_object import SourceObject

_GONE = ("NoSuchKey", "NoSuchVersion", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "AllAccessDisabled", "KMS.AccessDeniedException")


class S3ObjectStore:
    def __init__(self, s3_client: Any) -> None:
        """``s3_client``: a boto3 S3 client, or a function returning one (called on first use)."""
        self._s3 = client_source(s3_client)

    @property
    def s3(self) -> Any:
        return self._s3()

    def read(self, obj: SourceObject, max_bytes: int) -> StoredObject:
        where = obj.source
        too_large = (
            f"is {{size}} bytes, over the {max_bytes}-byte limit (MAX_OBJECT_BYTES; the Gateway accepts about "
            "10 MB of JSON). Split the export or remove bulky free text, then upload it again."
        )
        if obj.size is not None and obj.size > max_bytes:
            raise ObjectReadError(f"{where} {too_large.format(size=obj.size)}", transient=False)
        args: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            args["VersionId"] = obj.version_id
        try:
            response = self.s3.get_object(**args)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _GONE:
                raise ObjectReadError(
                    f"{where} no longer exists (deleted or overwritten before it was read); nothing to publish.",
                    transient=False,
                ) from exc
            if code in _DENIED:
                raise ObjectReadError(
                    f"access denied reading {where} ({code}): the function's role needs s3:GetObject (and "
                    "kms:Decrypt if the bucket uses a KMS key); will retry.",
                    transient=True,
                ) from exc
            raise ObjectReadError(f"could not read {where} ({code or 'error'}); will retry.", transient=True) from exc
        except BotoCoreError as exc:
            reason = f"could not read {where} ({type(exc).__name__}); will retry."
            raise ObjectReadError(reason, transient=True) from exc
        body = response["Body"]
        try:
            length = int(response.get("ContentLength") or 0)
            if length > max_bytes:
                raise ObjectReadError(f"{where} {too_large.format(size=length)}", transient=False)
            data = body.read(max_bytes + 1)
        finally:
            body.close()
        if len(data) > max_bytes:
            raise ObjectReadError(f"{where} {too_large.format(size=f'more than {max_bytes}')}", transient=False)
        etag = str(response.get("ETag", "")).strip('"') or None
        return StoredObject(data=data, etag=etag, version_id=response.get("VersionId") or obj.version_id)
