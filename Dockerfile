# klaviyo-relay: one image for the API and the workers (docker-compose.yml picks the command).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
COPY workers ./workers
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The API's local spool (RELAY_SPOOL_DIR, default .data/spool) must survive a restart or a new
# container: a writable directory owned by the node user, on a volume.
RUN mkdir -p /app/.data && chown node:node /app/.data && chmod 700 /app/.data
VOLUME /app/.data
USER node
EXPOSE 3000
CMD ["node", "dist/src/main.js"]
