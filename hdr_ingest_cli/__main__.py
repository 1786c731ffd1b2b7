"""`python -m hdr_ingest_cli`: the same as the `hdr-ingest` console script."""

from hdr_ingest_cli.app import main

raise SystemExit(main())
