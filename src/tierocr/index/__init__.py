"""The search index: parsed documents stored as chunks with embeddings, searched offline.

`service.SearchIndex` is the entry point (index, search, delete); `store` holds the database side
(SQLite or PostgreSQL+pgvector), `embed` the embedders, `records` what a chunk carries, `search` the
ranking, `cli` the commands, `evaluation` and `corpus` the retrieval check on the dev corpus.
"""
