"""SQLite store: one writer thread with group commit, readers on their own connections."""
