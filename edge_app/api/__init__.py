"""The HTTP API (version 1), served by the daemon on its Unix socket (and loopback TCP if configured)."""
