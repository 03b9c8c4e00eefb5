"""Who may use the API: pairing codes, tokens, scopes, and the Unix-socket peer."""
