"""DynamoDB adapter for the ledger: one item per source object, holding its latest outcome.

It speaks to DynamoDB through the low-level client (cheaper to create than a ``dynamodb`` resource, which a cold
start would pay for) and makes two calls per source processed: one conditional UpdateItem takes the lease and
returns the ledger item as it stood (and so whether the source had any), one conditional PutItem writes the outcome
and so ends the lease.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from hdr_ingest.adapters.aws.clients import client_source
from hdr_ingest.core.bounds import members_fit
from hdr_ingest.core.ledger import Lease, LeaseLost, LedgerEntry
from hdr_ingest.core.outcome import ErrorDetail, Status
from hdr_ingest.core.verification import Difference, Verified

_SERDE: list[Any] = []  # boto3's TypeSerializer and TypeDeserializer, made on first use (boto3 imports s3transfer)


def _serde() -> list[Any]:
    if not _SERDE:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        _SERDE[:] = [TypeSerializer(), TypeDeserializer()]
    return _SERDE


_INT_FIELDS = ("dataset_version", "gateway_status", "attempts", "errors_total")
_VERIFIED_FIELDS = ("verified", "verified_at", "differences")


def to_item(entry: LedgerEntry) -> dict[str, Any]:
    """The item as written, in plain Python values (:func:`typed` gives DynamoDB's attribute values)."""
    item: dict[str, Any] = {
        "source": entry.source,
        "status": entry.status.value,
        "reason": entry.reason,
        "bucket": entry.bucket,
        "key": entry.key,
        "datasetid": entry.record_key,
        "updated_at": entry.updated_at,
        "attempts": entry.attempts,
        "errors": [e.as_dict() for e in entry.errors],
        "errors_total": entry.errors_total,
        "warnings": list(entry.warnings),
    }
    optional = {
        "dataset_id": entry.record_id,
        "dataset_version": entry.record_version,
        "schema": entry.schema,
        "sha256": entry.object_sha256,
        "etag": entry.etag,
        "version_id": entry.version_id,
        "sequencer": entry.sequencer,
        "gateway_status": entry.http_status,
        "document_sha256": entry.document_sha256,
        **_members(entry),
        "destination": dict(entry.destination) if entry.destination else None,
        "element_id": entry.element_id,
        "verified": entry.verified.value if entry.verified else None,
        "verified_at": entry.verified_at,
        "differences": [d.as_dict() for d in entry.differences] or None,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


def _members(entry: LedgerEntry) -> dict[str, Any]:
    """A catalogue file's identifiers, or only their count when they would not fit the item (400 KB)."""
    if entry.members and members_fit(entry.members) and not entry.members_elsewhere:
        return {"members": list(entry.members)}
    return {"members_total": entry.member_count} if entry.member_count else {}


def from_item(item: dict[str, Any]) -> LedgerEntry:
    ints = {k: int(item[k]) for k in _INT_FIELDS if item.get(k) is not None}
    return LedgerEntry(
        source=str(item["source"]),
        status=Status(str(item["status"])),
        reason=str(item.get("reason", "")),
        bucket=str(item.get("bucket", "")),
        key=str(item.get("key", "")),
        record_key=str(item.get("datasetid", "")),
        updated_at=str(item.get("updated_at", "")),
        attempts=ints.get("attempts", 1),
        record_id=_record_id(item.get("dataset_id")),
        record_version=ints.get("dataset_version"),
        schema=item.get("schema"),
        errors=tuple(_error(e) for e in item.get("errors", [])),
        errors_total=ints.get("errors_total", 0),
        warnings=tuple(str(w) for w in item.get("warnings", [])),
        object_sha256=item.get("sha256"),
        etag=item.get("etag"),
        version_id=item.get("version_id"),
        sequencer=item.get("sequencer"),
        http_status=ints.get("gateway_status"),
        document_sha256=item.get("document_sha256"),
        members=tuple(str(m) for m in item.get("members", [])),
        members_total=int(item.get("members_total", 0)),
        destination=_destination(item.get("destination")),
        element_id=item.get("element_id"),
        **_verified(item),
    )


def _verified(item: dict[str, Any]) -> dict[str, Any]:
    """The last read-back's fields; an unknown ``verified`` value (written by a newer version) reads as unset."""
    value = item.get("verified")
    verified = Verified(value) if value in {v.value for v in Verified} else None
    differences = tuple(
        Difference(str(d.get("path", "$")), str(d.get("sent", "")), str(d.get("held", "")))
        for d in item.get("differences", [])
        if isinstance(d, dict)
    )
    return {"verified": verified, "verified_at": item.get("verified_at"), "differences": differences}


def _record_id(value: Any) -> int | str | None:
    """A destination's record id as stored: a number (the Gateway's) or a string (UNIS, Qrvey, AEP)."""
    if value is None:
        return None
    return value if isinstance(value, str) else int(value)


def _destination(value: Any) -> dict[str, str] | None:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


def _error(item: dict[str, Any]) -> ErrorDetail:
    """One stored error, with its mark when it is the error the Gateway reports."""
    return ErrorDetail(str(item.get("path", "$")), str(item.get("message", "")), item.get("gateway_reports") is True)


def typed(values: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values -> DynamoDB attribute values (``{"S": ...}``), as the boto3 resource layer types them."""
    serializer = _serde()[0]
    return {name: serializer.serialize(value) for name, value in values.items()}


def plain(attributes: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values -> plain Python values (numbers as ``Decimal``), as a boto3 resource returns them."""
    deserializer = _serde()[1]
    return {name: deserializer.deserialize(value) for name, value in attributes.items()}


def _conditional_failure(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) == "ConditionalCheckFailedException"


class DynamoDbLedger:
    """The ledger table. Besides outcomes it holds a short lease per source (``lease_owner``,
    ``lease_until``), taken with a conditional write, so one source is processed by one invocation at a time."""

    def __init__(self, table: Any, client: Any = None) -> None:
        """``table``: a boto3 ``dynamodb.Table`` resource (its low-level client is used); or the table's name,
        with ``client``: a DynamoDB client, or a function returning one (called on first use)."""
        if isinstance(table, str):
            if client is None:
                raise TypeError("DynamoDbLedger(table_name, client): the client is required with a table name")
            self.table_name = table
            self._client = client_source(client)
            self._typed = True
        else:
            self.table_name = str(table.name)
            self._client = client_source(table.meta.client)
            # boto3 registers the resource layer's (de)serialiser on a resource's client: it takes and gives
            # plain Python values, even through the client's own methods.
            self._typed = False

    @property
    def client(self) -> Any:
        return self._client()

    def _in(self, values: dict[str, Any]) -> dict[str, Any]:
        return typed(values) if self._typed else values

    def _out(self, attributes: dict[str, Any] | None) -> dict[str, Any]:
        return plain(attributes or {}) if self._typed else dict(attributes or {})

    def _key(self, source: str) -> dict[str, Any]:
        return self._in({"source": source})

    def get(self, source: str) -> LedgerEntry | None:
        answer = self.client.get_item(TableName=self.table_name, Key=self._key(source), ConsistentRead=True)
        item = self._out(answer.get("Item"))
        return from_item(item) if "status" in item else None

    def acquire(self, source: str, owner: str, until_epoch: float, now_epoch: float) -> Lease | None:
        """Take the source's lease; ``None`` while another owner holds it. One UpdateItem, which also returns the
        item as it stood before (``ALL_OLD``; a write: strongly consistent, no read capacity), so the lease comes
        with the ledger's entry, and with whether there was any item at all: none (no ``Attributes``) is a
        source never leased before (``Lease.first``). A retried request that had taken effect finds its own lease
        there, so it is never wrongly "first"."""
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=self._key(source),
                UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
                ExpressionAttributeValues=self._in(
                    {":owner": owner, ":until": int(until_epoch), ":now": int(now_epoch)}
                ),
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                return None
            raise
        item = self._out(answer.get("Attributes"))
        return Lease(owner, from_item(item) if "status" in item else None, first=not item)

    def release(self, source: str, owner: str) -> None:
        """Drop the lease fields only: the item stays (its key at least), so the next lease is not ``first``."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(source),
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues=self._in({":owner": owner}),
            )
        except ClientError as exc:
            if not _conditional_failure(exc):  # already released by record(), or taken over: nothing to do
                raise

    def record(self, entry: LedgerEntry, owner: str | None = None) -> None:
        """Write the outcome. The item is replaced whole, without the lease fields: writing ends the lease.
        With ``owner``, only while we still hold the lease."""
        item = self._in(to_item(entry))
        if owner is None:
            self.client.put_item(TableName=self.table_name, Item=item)
            return
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(lease_owner) OR lease_owner = :owner",
                ExpressionAttributeValues=self._in({":owner": owner}),
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                raise LeaseLost(f"{entry.source}: another invocation took over; outcome not recorded") from exc
            raise

    def note_verification(self, entry: LedgerEntry) -> bool:
        """Write ``entry``'s read-back fields (``verified``, ``verified_at``, ``differences``) into its item, only
        while the item still holds that outcome (same ``updated_at``) and no invocation is processing it. False
        when it changed meanwhile: the newer outcome is kept and nothing is written."""
        item = to_item(entry)
        values = {":updated": entry.updated_at, **{f":{name}": item.get(name) for name in _VERIFIED_FIELDS}}
        present = [name for name in _VERIFIED_FIELDS if values[f":{name}"] is not None]
        absent = [name for name in _VERIFIED_FIELDS if name not in present]
        update = ("SET " + ", ".join(f"#{n} = :{n}" for n in present)) if present else ""
        update += (" REMOVE " + ", ".join(f"#{n}" for n in absent)) if absent else ""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(entry.source),
                UpdateExpression=update.strip(),
                ConditionExpression="#updated_at = :updated AND attribute_not_exists(lease_owner)",
                ExpressionAttributeNames={f"#{n}": n for n in (*_VERIFIED_FIELDS, "updated_at")},
                ExpressionAttributeValues=self._in({k: v for k, v in values.items() if v is not None}),
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def elements(self, source: str) -> list[LedgerEntry]:
        """A Scan (the table has no index on a source prefix): it reads the whole table, so it is used only for a
        catalogue whose identifiers did not fit its item."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "ConsistentRead": True,
            "FilterExpression": "begins_with(#s, :prefix)",
            "ExpressionAttributeNames": {"#s": "source"},
            "ExpressionAttributeValues": self._in({":prefix": f"{source}#"}),
        }
        rows: list[LedgerEntry] = []
        while True:
            page = self.client.scan(**kwargs)
            rows.extend(from_item(item) for item in map(self._out, page.get("Items", [])) if "status" in item)
            if "LastEvaluatedKey" not in page:
                return rows
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan(self) -> list[LedgerEntry]:
        items: list[LedgerEntry] = []
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            for raw in page.get("Items", []):
                item = self._out(raw)
                if "status" in item:
                    items.append(from_item(item))
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda e: e.source)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
