FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY runtime ./runtime
COPY agents ./agents
COPY tables ./tables
COPY models ./models
COPY stores ./stores
COPY alembic ./alembic
RUN pip install --no-cache-dir . && useradd --system --uid 10001 sei && mkdir /data && chown sei /data
USER 10001
ENV DATA_DIR=/data WEB_BIND=0.0.0.0
EXPOSE 6066
CMD ["faust", "-A", "app", "worker", "-l", "info"]
