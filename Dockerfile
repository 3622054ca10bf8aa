# syntax=docker/dockerfile:1
# hyperdjango in a container: the spec's recipe, in two stages.
#
#   docker build -t hyperdjango-hello .
#   docker run --rm -p 8000:8000 hyperdjango-hello     # `docker stop` drains gracefully
#
# The builder stage has the Rust toolchain and builds the wheel; the runtime
# stage has neither compilers nor sources: it installs the wheel, checks it
# with `hyper-build --release`, and serves examples/hello.py as a non-root
# user. For your own app, replace the COPY of hello.py and the --app in CMD.
# See docs/deployment.md.

ARG PYTHON_VERSION=3.14

# --- builder: Rust + maturin -> a release wheel -------------------------------
FROM python:${PYTHON_VERSION}-slim AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV RUSTUP_HOME=/opt/rustup CARGO_HOME=/opt/cargo PATH=/opt/cargo/bin:$PATH
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --default-toolchain stable
RUN pip install --no-cache-dir "maturin>=1.5,<2"
WORKDIR /src
# Manifests first: the dependency layer is cached while only sources change.
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY benches ./benches
COPY src ./src
COPY python ./python
RUN maturin build --release --out /wheels

# --- runtime: the wheel, a non-root user, the app ------------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system app && useradd --system --gid app --home-dir /app app
COPY --from=builder /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels
# No sources here: hyper-build checks that the native module imports and is a release build.
RUN hyper-build --release
WORKDIR /app
COPY examples/hello.py ./hello.py
USER app
EXPOSE 8000
# The server drains in-flight requests on SIGTERM (up to --shutdown-timeout,
# 30 s); give `docker stop` at least that long: docker stop --time 35.
STOPSIGNAL SIGTERM
# Healthy when the server answers HTTP at all (any status), without curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import http.client as h; c = h.HTTPConnection('127.0.0.1', 8000, timeout=4); c.request('HEAD', '/'); c.getresponse()"]
CMD ["hyper", "run", "--app", "hello:app", "--host", "0.0.0.0", "--port", "8000", "--prod"]
