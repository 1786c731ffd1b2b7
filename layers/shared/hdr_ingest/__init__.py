"""hdr-gateway-ingest: publish HDR UK dataset metadata dropped in S3 to the Health Data Research Gateway.

Domain modules (no AWS in them): ``outcome``, ``document``, ``schema_pack``, ``source_object``,
``gateway_response``, ``pipeline``. Adapters (AWS and HTTP): ``object_store``, ``ledger``,
``dead_letter``, ``credentials``, ``gateway_client``. Wiring: ``config`` and ``runtime``.
"""

__version__ = "0.1.0"
