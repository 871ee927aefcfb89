# syntax=docker/dockerfile:1
# One image for the stream engine, the weather producer and the load generator
# (docker-compose.yml picks the command). Multi-stage: build with dev dependencies,
# run with production dependencies only, as the unprivileged `node` user.
# Node.js 24 LTS, pinned to the release the npm scripts run on elsewhere (the `node`
# devDependency): Node.js 20 reached end of life on 2026-04-30.

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY loadgen ./loadgen
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --no-audit --no-fund

FROM node:24.21.0-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY sql ./sql
RUN mkdir -p /app/checkpoints && chown node:node /app/checkpoints
USER node
# 9464: engine /metrics, /livez, /readyz, /health; 5006: weather producer API.
EXPOSE 9464 5006
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main/cli.js"]
