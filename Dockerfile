# LLM Lab Bot: runs `labbot run` (or `labbot runner`) as a non-root user, state on /data.
# GPU: PyPI's torch wheels for Linux bundle CUDA; run with `--gpus all` (or compose's GPU
# reservation) on a host with the NVIDIA container toolkit. Without a GPU it runs on the CPU.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LABBOT_DATA_DIR=/data \
    LABBOT_MODEL_CACHE=/data/model-cache \
    HF_HOME=/data/hf-cache

# gcc builds the engine's compiled decode attention for the CPU it starts on
# (model_runner/engine/compiled.py); without it the engine keeps PyTorch's slower products.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 labbot \
    && mkdir -p /data && chown labbot:labbot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY model_runner ./model_runner
COPY cases ./cases
COPY discord_emulator ./discord_emulator
# TORCH_SPEC lets a CPU-only image use the small CPU build:
#   docker build --build-arg TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu" .
ARG TORCH_SPEC=torch
RUN pip install ${TORCH_SPEC} && pip install ".[offline]"

USER labbot
VOLUME ["/data"]
EXPOSE 8765
CMD ["labbot", "run"]
