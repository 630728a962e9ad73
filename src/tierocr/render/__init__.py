"""Output formats: Markdown for people and LLMs, JSON for machines, chunks for retrieval."""
