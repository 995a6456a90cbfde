# syntax=docker/dockerfile:1
# NowConnect images: one multi-stage build, two runtime targets.
#   docker build --target hub   -t nowconnect/cloud-hub:dev .      (default target: hub)
#   docker build --target agent -t nowconnect/premise-agent:dev .
# Nothing environment-specific is baked in: cloud.yaml / premise.yaml, the JWT secret or key, the agent
# token and the mesh certificates are mounted at run time (docker-compose.yml, deploy/k8s/).
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: full dependency tree, compile both apps to dist/apps/*/main.js and the tools to dist/tools ---
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json nest-cli.json ./
COPY apps ./apps
COPY libs ./libs
COPY tools ./tools
RUN npm run build

# ---- deps: production dependencies only ---------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime base: node + production node_modules + compiled apps, non-root -------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist/apps ./dist/apps
# The operator tools (validate, perf-ldap) ship too: `node dist/tools/validate/main.js --hub ...` in-cluster.
COPY --from=build --chown=root:root /src/dist/tools ./dist/tools
COPY --chown=root:root package.json ./
# The `nowconnect` CLI (hub, agent, token, config check, status, validate, perf-ldap): `nowconnect --help`.
COPY --chown=root:root bin ./bin
RUN ln -s /app/bin/nowconnect.js /usr/local/bin/nowconnect
# The image's files belong to root and are read-only for the service user; config and secrets are mounts.
RUN mkdir -p /etc/nowconnect && chmod 0755 /etc/nowconnect
# uid/gid 1000 is the node image's unprivileged "node" user (numeric so runAsNonRoot can verify it).
USER 1000:1000

# ---- agent: dials out; no inbound ports, no HTTP endpoint (its health is its process and its logs) --------
FROM runtime AS agent
ENV NC_CONFIG=/etc/nowconnect/premise.yaml
HEALTHCHECK NONE
STOPSIGNAL SIGTERM
CMD ["node", "dist/apps/premise-agent/main.js"]

# ---- hub (default target) ------------------------------------------------------------------------------
FROM runtime AS hub
ENV NC_CONFIG=/etc/nowconnect/cloud.yaml
# Not read by the hub: the URL the image's HEALTHCHECK probes. Keep it equal to server.bind's port
# (https://... when server.tls is set).
ENV NC_HEALTHCHECK_URL=http://127.0.0.1:8765/healthz
# 8765 server.bind (HTTP /healthz /readyz /metrics, WebSocket /tunnel /mesh), 8766 ha.mesh.listen (mTLS),
# 389 the LDAP listener of deploy/compose/cloud.yaml (listeners[].bind is deployment-specific).
EXPOSE 8765 8766 389
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const u=new URL(process.env.NC_HEALTHCHECK_URL||'http://127.0.0.1:8765/healthz');require(u.protocol==='https:'?'node:https':'node:http').get(u,{rejectUnauthorized:false,timeout:4000},(r)=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/apps/cloud-hub/main.js"]
