"""The Lambda entry: event parsing, settings read once, the one composition root."""
