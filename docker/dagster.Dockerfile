# Dagster's own processes: the webserver (UI) and the daemon (schedules, sensors, the run
# queue, run monitoring). No project code is installed here: both reach the code location
# over gRPC (workspace.yaml), so a new user-code image deploys without restarting them.
# Versions come from constraints.txt, the same pins as the user-code image.
FROM python:3.11-slim

COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir -c /tmp/constraints.txt \
        dagster dagster-webserver dagster-postgres \
    && rm /tmp/constraints.txt

ENV DAGSTER_HOME=/opt/dagster/home
WORKDIR /opt/dagster
# Baked in as a fallback; docker-compose.yml mounts the repository's files over both.
COPY dagster.yaml ${DAGSTER_HOME}/dagster.yaml
COPY docker/workspace.yaml /opt/dagster/workspace.yaml
EXPOSE 3000
