"""The daemon (`edge-app run`): device supervisors, the store writer, the API and systemd glue."""
