"""Who may call the platform and what it costs: API keys, roles, limits, usage metering, the audit ledger.

Modules (imported directly, so the registry's audit hook pulls in nothing else):
`keys` (create, list, revoke, authenticate), `roles` (actions and `authorize`), `limits` (rate and monthly
quota), `metering` (buffered usage records, `usage_report`), `audit` (hash-chained ledger, `verify`).
"""
