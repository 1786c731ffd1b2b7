"""Adobe Experience Platform: JSON records into a dataset through batch ingestion (``kind: "aep"``)."""
