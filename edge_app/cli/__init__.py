"""The `edge-app` command line: one module per command group, imported only when used."""
