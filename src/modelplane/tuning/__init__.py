"""Hyper-parameter and architecture search on Optuna, stored in the platform database."""
