"""``make bench``: performance figures of the ingest function, each next to its target, all measured in one run and
printed in one table (``python -m scripts.bench --help``). One module per section; the code that runs in fresh
interpreters is in ``probes/`` (run as scripts) and in the worker modules (run with ``python -m``)."""
