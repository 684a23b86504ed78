#!/usr/bin/env bash
# Ad-hoc: minimal handler vs our API, same load, shared Redis (prefixes removed afterwards).
cd "$(dirname "$0")/../.."
(PORT=3100 PREFIX=bm-min npx tsx bench/minimal-ingest.ts > /dev/null 2>&1 &)
(RELAY_QUEUE_PREFIX=bm-ours PORT=3101 HOST=127.0.0.1 RELAY_API_KEYS=bench-relay-key-1234 MATON_API_KEY=x MATON_GATEWAY_URL=http://127.0.0.1:9 npx tsx src/server.ts > /tmp/ours.log 2>&1 &)
sleep 4
BODY='{\"id\":\"{{id}}\",\"event\":\"Placed Order\",\"profile\":{\"email\":\"ada@example.com\"},\"properties\":{\"OrderId\":\"1001\"},\"value\":29.99}'
for port in 3100 3101 3100 3101; do
  npx tsx bench/lib/load.ts "{\"url\":\"http://127.0.0.1:$port/v1/events\",\"connections\":64,\"duration\":${DUR:-6},\"body\":\"$BODY\",\"headers\":{\"authorization\":\"Bearer bench-relay-key-1234\"}}"
done
pkill -f minimal-ingest; pkill -f "src/server.ts"; sleep 1
for p in bm-min bm-ours; do redis-cli --scan --pattern "$p:*" | xargs -r -n 1000 redis-cli unlink > /dev/null; done
