# syntax=docker/dockerfile:1
# One image for every service of the Task Observatory:
#   docker build -t task-observatory:0.1.0 .      (tag = actors/_version.py VERSION)
#   docker run task-observatory:0.1.0 serve processor --host 0.0.0.0
#   docker run task-observatory:0.1.0 migrate
# Builder: installs the locked dependencies and the wheel into a venv. Final: only the
# venv, non-root.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# The runtime dependencies exactly as locked (requirements/lock.txt, every file's hash
# checked), then the project's wheel without resolving anything more.
COPY requirements/lock.txt ./requirements/lock.txt
RUN /opt/venv/bin/pip install --require-hashes -r requirements/lock.txt
COPY pyproject.toml README.md ./
COPY actors ./actors
COPY contracts ./contracts
COPY quart_app ./quart_app
COPY launcher ./launcher
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/observatory --help >/dev/null

FROM python:3.11-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="task-observatory" \
      org.opencontainers.image.description="An event-driven job processing system you can watch." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:${PATH}"
RUN groupadd --gid 10001 observatory \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/observatory \
      --shell /usr/sbin/nologin observatory
COPY --from=builder /opt/venv /opt/venv
WORKDIR /home/observatory
USER 10001:10001
# gateway 3000, processor 8001, metrics-engine 8002, read-model 8080
EXPOSE 3000 8001 8002 8080
ENTRYPOINT ["observatory"]
CMD ["serve", "gateway", "--host", "0.0.0.0"]
