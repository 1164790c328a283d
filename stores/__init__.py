"""Database rows, one module per table family: its row mapping (by column name), upserts and reads."""
