"""Live shadow calls: Twilio webhooks -> the same turn loop replay uses -> cases in the store.

Modules: wire (Twilio payloads -> events), signature (X-Twilio-Signature), eventlog
(the durable log), calls (per-call state from the log), reading (the log's place and the calls
read back from it, for `shadow calls`), source (a live call as an
EventSource), worker (the agent off the request path), service (the engine),
app (the ASGI routes).
"""
