"""The use cases of the appliance: what the API's routes, the daemon's tickers and the uplink's payloads do.

Each service takes what it needs (the store, the live hub, the config) when the composition root
(edge_app.daemon.root) builds it; the HTTP layer only parses a request, calls one service and shapes
the answer. Reads are plain functions to run on a reader thread; writes are coroutines that return once
committed. Refusals are edge_app.errors.Refused subclasses, which the API turns into statuses.
"""
