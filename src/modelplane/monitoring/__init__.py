"""Watching served models: the prediction log, ground-truth feedback and live accuracy, drift against the
training data, accuracy estimated before labels arrive, alerts, and the monitor job that ties them together.

The log's shape (`schema`) and the frames every statistic reads (`frames`) are the contract between the
parts: serving writes rows of that shape, drift, feedback and alerts read frames of it.
"""
