"""Monitor drivers: transports move bytes, pure codecs turn them into readings. Never imports edge_app."""
