"""Use cases over the core's ports: publish, archive, catalogue, record. No AWS or HTTP in them."""
