"""The database every part shares (evidence records, their audit trail, web accounts and extractions):
schema versions by Alembic migrations (``stemdm.db.migrate``)."""
