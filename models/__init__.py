"""Event schemas (pydantic validation) and the database's ORM models."""
