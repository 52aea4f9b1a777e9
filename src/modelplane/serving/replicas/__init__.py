"""Replica processes: copies of one model version, each in a process of its own, fed batches by the
server's dynamic batcher (the server keeps the front end, auth, limits, routing and metering)."""
