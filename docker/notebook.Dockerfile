# JupyterLab with modeler (and TensorFlow) installed from this repository.
# Built by docker-compose.yml with the repository root as context.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MLFLOW_DISABLE_TELEMETRY=true

RUN useradd --create-home --uid 1000 jovyan

WORKDIR /opt/modeler
# Only what the build needs: the context also holds .venv and mlruns, which must stay out.
# pyproject.toml names README.md as the long description, so the build needs it too.
COPY pyproject.toml README.md ./
COPY modeler ./modeler
RUN pip install ".[tensorflow]" "jupyterlab>=4,<5"

USER jovyan
WORKDIR /home/jovyan
EXPOSE 8888
# The access token comes from JUPYTER_TOKEN (set from .env), never from the image.
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--notebook-dir=/home/jovyan"]
