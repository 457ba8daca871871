# Worker image for docker-compose.yml and deploy/helm (CPU and GPU workers share it; the queue
# is set by env).
FROM node:20.20-bookworm-slim
# Vulkan loader for the WebGPU (Dawn) engine on GPU workers (the NVIDIA runtime injects the ICD);
# a font so the evaluation plots (SVG rendered by sharp) have readable text; Python with venv and
# pip for `run` steps with `python:` (the worker builds one venv per requirements hash, MLP_RUN_PYTHON).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 ca-certificates fonts-dejavu-core python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY common ./common
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
# The mount points of compose's named volumes: a new volume takes their owner, so the worker
# (user node) can write to it.
RUN mkdir -p .data/scratch .data/run && chown -R node:node .data
USER node
ENV NODE_ENV=production
# For the NVIDIA container runtime: Vulkan needs the graphics capability (the runtime then mounts
# the Vulkan ICD); `node --import tsx worker/check-webgpu.ts` says whether an adapter is found.
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
# node itself as PID 1 (no npx/tsx process in between): `docker stop`'s SIGTERM reaches the
# worker, which stops polling and lets running steps finish (MLP_SHUTDOWN_GRACE_TIME).
CMD ["node", "--import", "tsx", "worker/main.ts"]
