"""The pure core: documents, outcomes, the ledger model and the ports. Imports nothing from AWS or HTTP."""
