"""The daemon's side of forwarding: the gate (may records leave?), approvals, the outbox's payloads."""
