"""The terminal UI: a Textual client of the daemon's API. The daemon never imports this package."""
