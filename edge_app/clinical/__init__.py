"""Clinical logic: pure functions over stored observations (no I/O)."""
