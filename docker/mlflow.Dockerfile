# The MLflow tracking server of docker-compose.yml: PostgreSQL backend store, S3 (MinIO)
# artifact store served through the server, basic auth. Configured by the compose file.
FROM python:3.11-slim

# Same bound as pyproject.toml: mlflow 3.18.0's pinned sub-packages are not all published.
# [auth] brings Flask-WTF, which the basic-auth app refuses to start without.
RUN pip install --no-cache-dir \
        "mlflow[auth]>=3.17.2,<3.18" \
        "psycopg2-binary>=2.9" \
        "boto3>=1.34" \
    && useradd --create-home --uid 1000 mlflow

USER mlflow
WORKDIR /home/mlflow
EXPOSE 5000
CMD ["mlflow", "server", "--help"]
