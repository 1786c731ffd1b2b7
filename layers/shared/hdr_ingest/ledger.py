"""DynamoDB adapter for the ledger: one item per source object, holding its latest outcome."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from hdr_ingest.outcome import ErrorDetail, Status
from hdr_ingest.pipeline import LeaseLost, LedgerEntry

_INT_FIELDS = ("dataset_id", "dataset_version", "gateway_status", "attempts", "errors_total")


def to_item(entry: LedgerEntry) -> dict[str, Any]:
    """The item as written (plain Python values; the boto3 resource layer types them)."""
    item: dict[str, Any] = {
        "source": entry.source,
        "status": entry.status.value,
        "reason": entry.reason,
        "bucket": entry.bucket,
        "key": entry.key,
        "datasetid": entry.datasetid,
        "updated_at": entry.updated_at,
        "attempts": entry.attempts,
        "errors": [e.as_dict() for e in entry.errors],
        "errors_total": entry.errors_total,
        "warnings": list(entry.warnings),
    }
    optional = {
        "dataset_id": entry.dataset_id,
        "dataset_version": entry.dataset_version,
        "schema": entry.schema,
        "sha256": entry.sha256,
        "etag": entry.etag,
        "version_id": entry.version_id,
        "sequencer": entry.sequencer,
        "gateway_status": entry.gateway_status,
        "document_sha256": entry.document_sha256,
        "members": list(entry.members) or None,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


def from_item(item: dict[str, Any]) -> LedgerEntry:
    ints = {k: int(item[k]) for k in _INT_FIELDS if item.get(k) is not None}
    return LedgerEntry(
        source=str(item["source"]),
        status=Status(str(item["status"])),
        reason=str(item.get("reason", "")),
        bucket=str(item.get("bucket", "")),
        key=str(item.get("key", "")),
        datasetid=str(item.get("datasetid", "")),
        updated_at=str(item.get("updated_at", "")),
        attempts=ints.get("attempts", 1),
        dataset_id=ints.get("dataset_id"),
        dataset_version=ints.get("dataset_version"),
        schema=item.get("schema"),
        errors=tuple(ErrorDetail(str(e.get("path", "$")), str(e.get("message", ""))) for e in item.get("errors", [])),
        errors_total=ints.get("errors_total", 0),
        warnings=tuple(str(w) for w in item.get("warnings", [])),
        sha256=item.get("sha256"),
        etag=item.get("etag"),
        version_id=item.get("version_id"),
        sequencer=item.get("sequencer"),
        gateway_status=ints.get("gateway_status"),
        document_sha256=item.get("document_sha256"),
        members=tuple(str(m) for m in item.get("members", [])),
    )


def _conditional_failure(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) == "ConditionalCheckFailedException"


class DynamoDbLedger:
    """The ledger table. Besides outcomes it holds a short lease per source (``lease_owner``,
    ``lease_until``), taken with a conditional write, so one source is processed by one invocation at a time."""

    def __init__(self, table: Any) -> None:
        """``table`` is a boto3 ``dynamodb.Table`` resource."""
        self.table = table

    def get(self, source: str) -> LedgerEntry | None:
        item = self.table.get_item(Key={"source": source}, ConsistentRead=True).get("Item")
        return from_item(item) if item and "status" in item else None

    def acquire(self, source: str, owner: str, until_epoch: float, now_epoch: float) -> bool:
        try:
            self.table.update_item(
                Key={"source": source},
                UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
                ExpressionAttributeValues={":owner": owner, ":until": int(until_epoch), ":now": int(now_epoch)},
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def release(self, source: str, owner: str) -> None:
        try:
            self.table.update_item(
                Key={"source": source},
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": owner},
            )
        except ClientError as exc:
            if not _conditional_failure(exc):  # already released by record(), or taken over: nothing to do
                raise

    def record(self, entry: LedgerEntry, owner: str | None = None) -> None:
        """Write the outcome (which also ends the lease). With ``owner``, only while we still hold the lease."""
        if owner is None:
            self.table.put_item(Item=to_item(entry))
            return
        try:
            self.table.put_item(
                Item=to_item(entry),
                ConditionExpression="attribute_not_exists(lease_owner) OR lease_owner = :owner",
                ExpressionAttributeValues={":owner": owner},
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                raise LeaseLost(f"{entry.source}: another invocation took over; outcome not recorded") from exc
            raise

    def scan(self) -> list[LedgerEntry]:
        items: list[LedgerEntry] = []
        kwargs: dict[str, Any] = {"ConsistentRead": True}
        while True:
            page = self.table.scan(**kwargs)
            items.extend(from_item(i) for i in page.get("Items", []) if "status" in i)
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda e: e.source)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
