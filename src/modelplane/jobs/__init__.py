"""Durable background jobs: training and batch prediction today, one registration per kind (kinds.py).

A job is a row in the store (queued -> running -> succeeded | failed | cancelled) with its progress, an
append-only log, a result and an error. Workers claim jobs atomically in the database and hold them under a
lease they renew; each job runs in a process of its own, and everything it writes is fenced by its lease
token. A job whose worker died is taken over by another worker once its lease expires (at once when the dead
worker ran on the same machine) and resumes from what it committed: training from its last epoch checkpoint,
batch prediction after its last committed chunk.
"""
