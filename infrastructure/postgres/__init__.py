"""The PostgreSQL adapter: schema, engine, embedded server and migrations."""
