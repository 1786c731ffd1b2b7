"""The HDR UK Health Data Research Gateway: its client, answers, schema pack and Gateway-faithful judge."""
