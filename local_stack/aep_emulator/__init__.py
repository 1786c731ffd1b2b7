"""A local, stateful emulator of the Adobe Experience Platform APIs the ``aep`` destination uses, over real HTTP.

* IMS: ``POST /ims/token/v3`` (client credentials, form-encoded) -> ``{"access_token", "token_type", "expires_in"}``;
  ``invalid_client`` / ``invalid_scope`` / ``unsupported_grant_type`` errors.
* Platform (``/data/foundation``): every call checks Adobe's gateway headers in order and answers their documented
  errors (403010, 401013, 403000, 403003, 400003, 403025); a body needs its Content-Type (400 / 415).
* Schema Registry: ``GET /schemaregistry/tenant/schemas/{id}`` (406 unless the Accept is an ``xed`` one).
* Catalog: ``GET/POST /catalog/dataSets`` (find by ``name`` or ``tags=k:v``), ``GET /catalog/dataSets/{id}``,
  ``GET /catalog/batches`` (``dataSet``, ``tags``, ``status``, ``externalId``, ``orderBy``) and
  ``GET /catalog/batches/{id}`` (keyed by the id, as Catalog answers).
* Batch Ingestion: ``POST /import/batches`` (with ``replay``), ``PUT .../datasets/{d}/files/{name}``,
  ``POST /import/batches/{id}?action=COMPLETE|ABORT|FAIL|REVERT``.
* A completed batch moves ``loading`` -> ``staging`` -> loaded (or a scripted ``failed`` with errors) as its
  status is read; a successful replay batch replaces its predecessors' rows.
* The real service's quirks, each with its source in :class:`~local_stack.aep_emulator.state.Quirks`
  (``aep.quirks``): ``active`` for ``success`` and ``archived``/``retained`` after it (:meth:`AepEmulator.age_loaded`),
  a COMPLETE that takes effect and answers 500, a Catalog that ignores the ``tags`` filter, a 404 for an empty
  list, a replay that leaves its predecessor live. Always on: ``,`` and ``*`` as Catalog filter operators, values
  converted at load (a batch fails only for what cannot convert), predecessors named bare or ``$``-prefixed.
* Fault injection (:meth:`AepEmulator.add_fault`: a status with ``Retry-After``, or latency), token expiry
  (:meth:`AepEmulator.expire_tokens`) and a request log for the contract test.
"""

from .server import DEFAULT_SCHEMA, DEFAULT_SCHEMA_ID, AepClient, AepEmulator, Exchange, Fault

__all__ = ["DEFAULT_SCHEMA", "DEFAULT_SCHEMA_ID", "AepClient", "AepEmulator", "Exchange", "Fault"]
