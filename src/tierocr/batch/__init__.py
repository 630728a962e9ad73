"""Batch ingestion that survives crashes: every page a durable step in a SQLite or PostgreSQL job store.

``store`` (the schema and its conditional updates), ``work`` (the page step every face calls),
``local`` and ``ray_backend`` (where pages are read), ``runner`` (the coordinator), ``cli``.
"""
