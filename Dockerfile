# The bot's container image: the tree copied in, deploy/install.sh run, nothing else.
# The install script is the tested part (tests/test_install.py runs it in a clean
# directory and starts what it installed); this file only wraps it.
#   docker build -t relatives-bot .
#   docker run --env-file bot.env -p 8080:8080 -v relatives-bot-data:/var/lib/relatives-bot relatives-bot
# See deploy/compose.yaml for PostgreSQL, migrations, backups and nginx in front.
FROM python:3.11-slim-bookworm AS build
COPY . /src
RUN /src/deploy/install.sh /opt/relatives-bot /src

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="relatives-support-bot" \
      org.opencontainers.image.licenses="EUPL-1.2"
# The same interpreter path as in the build stage, so the copied venv runs as it is.
COPY --from=build /opt/relatives-bot /opt/relatives-bot
RUN useradd --system --uid 10001 --home-dir /var/lib/relatives-bot --no-create-home \
        --shell /usr/sbin/nologin relatives-bot \
    && install -d -o relatives-bot -g relatives-bot -m 0700 /var/lib/relatives-bot
ENV PATH=/opt/relatives-bot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/var/lib/relatives-bot
# The only writable path; run the container with --read-only and this as a volume.
VOLUME ["/var/lib/relatives-bot"]
WORKDIR /var/lib/relatives-bot
USER relatives-bot:relatives-bot
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8080')}/health/live\", timeout=4)"]
CMD ["python", "-m", "bot", "serve"]
