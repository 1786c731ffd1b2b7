"""hdr-gateway-ingest: publish dataset metadata dropped in S3 to the catalogues that hold it.

Layers, each a package (README "Architecture"); an arrow is "may import":

    entry  ->  usecases  ->  core
      |                       ^
      +-> adapters, destinations

``core``: documents, outcomes, the ledger model and the ports (pure Python, no AWS, no HTTP).
``usecases``: publish, archive, catalogue, record (pure Python over the ports).
``destinations``: one package per catalogue behind the ``Destination`` port.
``adapters``: AWS (S3, DynamoDB, SQS, Secrets Manager).
``entry``: the Lambda entry: event parsing, settings, the composition root.
"""

__version__ = "0.1.0"
