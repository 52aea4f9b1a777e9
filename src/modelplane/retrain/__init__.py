"""Continuous training: a policy per model says which dataset it watches, what fires a retrain (new data,
a cron schedule, or a person), the gate a candidate must pass against production, and how it rolls out
(staging, then a canary on the model's deployment, then production).

Flow: a trigger records a *firing* and queues a `retrain` job (policies.py, triggers.py, firings.py,
watcher.py); the job fine-tunes production on the new rows plus a replay sample of old ones, evaluates
candidate and production on the same test rows and applies the gate (data.py, candidate.py, graph.py,
kind.py); a passing candidate is registered, moved to staging and canaried, and the watcher promotes it
when the canary's time is up (rollout.py). Every step is a row in the store and an entry in the audit ledger.
"""
