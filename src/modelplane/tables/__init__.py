"""Tables: column roles, the fitted preprocessing that turns raw named columns into model features, and
the named columns a tabular model takes end to end (ingest, training, serving, batch, predict)."""
