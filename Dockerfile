# The calsync-jobs worker image used by docker-compose.yml (`docker compose up --build`).
# Stage 1 compiles TypeScript with the dev dependencies; stage 2 keeps only what runs.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY schema ./schema
# SQL migrations are read at run time from the folder next to package.json.
COPY migrations ./migrations
USER node
# Prometheus metrics (/metrics)
EXPOSE 9464
CMD ["node", "bin/calsync-jobs.js", "worker"]
