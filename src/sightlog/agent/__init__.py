"""The edge agent: store-and-forward between cameras and a Sightlog server (``sightlog agent``).

An agent is a small local service that speaks the write API of the server (upload, create, batch, bundle,
and the key check of the ``roboflow`` SDK) plus ``POST /v2/events`` of Roboflow ``inference``'s local
event store. It answers 2xx only once the event or image is durable in its outbox, and a forwarder thread
delivers the outbox upstream (images first, then events in batches, idempotent by eventId), waiting with
capped, jittered backoff while upstream is away::

    client ─→ routes (the server's own handlers) ─→ IngestService / ImageService ─→ Outbox (SQLite + files)
                                                                                      │
                                        upstream server ←─ Forwarder (thread) ←───────┘

Modules: ``config`` (options), ``outbox`` (durable queue and quotas), ``services`` (the server's services
over the outbox), ``forwarder`` (delivery), ``v2`` (the inference event-store API), ``report`` (/health,
/metrics), ``runtime`` (wiring) and ``app`` (the ASGI app).
"""
