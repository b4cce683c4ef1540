-- Argilla's own database, beside Dagster's (docker-compose.yml).
CREATE DATABASE argilla;
