"""Reference flows: proposal (FORGE), CRM deal support (CLOSER), build (RENDER)."""
