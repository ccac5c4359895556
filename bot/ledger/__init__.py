"""The donation ledger: model, SQLite store, migrations, rollups, privacy."""
