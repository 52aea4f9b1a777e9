"""Platform events: a projection of the audit ledger onto public event types, delivered to webhooks
(signed, retried, off the request path) and streamed as server-sent events.

Nothing is emitted on the request path: every change already appends its audit entry in its own
transaction, so the ledger is the durable, ordered record of events. The dispatcher (dispatch.py) tails it
from a persisted cursor and the stream (stream.py) reads it from a client's last id.
"""
