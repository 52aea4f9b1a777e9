"""Batch prediction: a deployment's models over a whole file, chunk by chunk, resumable, as a job."""
