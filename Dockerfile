# The same steps as .ci/run and `make run`: a venv, `pip install .` of the project, `python -m bot`.
# Build stage: the venv in /opt/venv with the project and its dependencies (wheels only here).
FROM python:3.11-slim AS builder
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install .

# Runtime stage: the venv and the source tree, run by an unprivileged user.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 bot
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY bot ./bot
# data/: the SQLite file and its secret.key (default DATABASE_URL=sqlite://data/bot.sqlite3).
RUN mkdir -p /app/data && chown bot:bot /app/data
USER bot
VOLUME ["/app/data"]
# The HTTP server (gateway hooks, Telegram webhook, /healthz) listens here when HTTP_PORT is set.
EXPOSE 8080
# Healthy while GET /healthz answers 200; without HTTP_PORT there is no server to ask, so it passes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; p = os.environ.get('HTTP_PORT', '').strip(); p and urllib.request.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=4)"
CMD ["python", "-m", "bot"]
