# Chaperone's container image.
#   docker build -t chaperone:dev .
# Runs as uid 10001 with a read-only root filesystem; the config directory (chaperone.yaml and
# the policies) is mounted at /etc/chaperone, in Kubernetes as a ConfigMap volume.

# --- build: compile TypeScript and the native re2 addon, then drop dev dependencies ---
FROM node:24-bookworm-slim AS build
# re2 is a native addon: when no prebuilt binary fits, node-gyp compiles it from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp builds against the headers this image already has instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /app
# .npmrc holds the project's npm settings, which npm ci must see as a developer's checkout does.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev \
 # onnxruntime-node ships binaries for every platform; the image needs its own only.
 && find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 -type d ! -name linux -exec rm -rf {} + \
 && find node_modules/onnxruntime-node/bin -path '*/linux/*' -mindepth 3 -maxdepth 3 -type d ! -name "$(node -p 'process.arch')" -exec rm -rf {} +

# --- runtime: node, tini, the compiled code and production dependencies only ---
FROM node:24-bookworm-slim
# tini as PID 1 forwards SIGTERM to node (which drains streams in flight) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
# Everything stays owned by root: the process (uid 10001) reads it and never writes, which is
# what lets the pod run with readOnlyRootFilesystem.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
# The shipped classifiers (builtin:toxicity, builtin:injection); an operator's own model is mounted.
COPY models ./models
USER 10001:10001
EXPOSE 8080 9090
# Slim images have no curl; node's fetch asks the admin listener. (Kubernetes ignores
# HEALTHCHECK and uses the pod's probes on the same endpoint.)
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/chaperone"]
