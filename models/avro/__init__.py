"""Avro for ingested events: shipped schemas, a registry with compatibility checks, and the
Confluent wire format codec."""
