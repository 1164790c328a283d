"""Operator commands, run as ``faust -A app <command>`` (Faust discovers this package).

- ``dlq list|show|replay``: inspect dead letters and send them back to their topic;
- ``replay``: re-send a topic's records of a time range, to be reprocessed idempotently;
- ``topics list|create|check``: the topics the app uses, created or checked on the broker;
- ``reconcile``: compare the database with the live tables, and repair the differences.

They use the database and the broker directly and never start a worker.
"""
