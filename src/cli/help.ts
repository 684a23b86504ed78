/** Usage texts: the short usage printed with a usage error, and the full help of each command. */

export const COMMON_HELP = `Options for every command:
  --url <url>      the relay (RELAY_URL; default http://127.0.0.1:$PORT, PORT defaulting to 3000)
  --token <token>  admin token for /ops (RELAY_ADMIN_TOKEN; the sandbox's is dev-admin)
  --key <key>      API key for /v1 (the first of RELAY_API_KEYS; the sandbox's is dev-key)
  --json           machine-readable JSON on stdout, nothing else (read commands)
  -h, --help       help for the command`;

export const SUMMARY = `Usage: relay <command> [options]

Commands:
  status                      queues and lanes at a glance (--watch to follow)
  dlq list|show|replay        dead letters: list and filter, look at one, replay
  pause <lane>                stop delivering to a Klaviyo account (jobs are kept)
  resume <lane>               deliver to it again
  find --id|--email|--phone|--external-id <value>
                              the jobs carrying an event id or a person
  send                        post one test event to /v1/events
  privacy delete|suppress|unsuppress
                              erase a person from the relay and Klaviyo; stop or resume emailing them
  connections list|create|get|delete
                              Maton connections (the Klaviyo accounts behind the gateway)
  webhooks topics|list|create|rotate|delete|test
                              Klaviyo system-webhook subscriptions, their secrets kept by the relay
  doctor                      check Redis, configuration, credentials, revision, clock, relay API

Run \`relay <command> --help\` for a command's options, \`relay --version\` for the version.`;

export const TOP_HELP = `relay — operate a klaviyo-relay from the command line

${SUMMARY}

${COMMON_HELP}

Exit status: 0 done, 1 failed (the message says how to fix it), 2 usage error.`;

export const HELP: Record<string, { usage: string; help: string }> = {
  status: {
    usage: 'relay status [--watch [--interval <s>] [--count <n>]] [--json]',
    help: `Queues and lanes at a glance.

Per queue: jobs waiting, active, delayed and failed (dead letters), the age of the oldest waiting
job, and items delivered in the last full minute. Per lane (Klaviyo account): whether it is paused
(since when and why), items delivered per minute, and the quota left now for bulk_create_events
and create_event (per second / per minute) and for the Maton gateway (per second).

Options:
  --watch          redraw every 2 seconds until Ctrl-C
  --interval <s>   seconds between redraws (default 2)
  --count <n>      with --watch: stop after n draws
  --json           the status as JSON (with --watch: one JSON document per line)`,
  },
  dlq: {
    usage: 'relay dlq list|show|replay …',
    help: `Dead letters: the jobs whose items Klaviyo rejected or that ran out of attempts.

  relay dlq list [filters] [--limit <n>] [--offset <n>] [--json]
  relay dlq show <ref> [--json]
  relay dlq replay (filters | --id <ref>… | --all) [--priority live] [--dry-run] [--json]

Filters:
  --kind <kind>      events, profiles, webhooks, back-in-stock or coupon-codes
  --lane <lane>      the lane (Klaviyo account), e.g. default
  --class <class>    live or bulk: the class of the queue the dead letter is in
  --code <code>      Klaviyo's error code (invalid, duplicate_profile…) or the origin (network, timeout…)
  --status <n>       the HTTP status Klaviyo answered (e.g. 400)
  --source <name>    the source (API key or configured source) that sent the work
  --since <time>     failed at or after: ISO-8601 (2026-11-27T10:00:00Z) or a duration ago (30m, 1h, 2d)
  --until <time>     failed before: same forms
  --limit <n>        list: at most n (1–1000, default 100), newest first
  --offset <n>       list: skip the n newest (the next page's offset is printed)

A <ref> is <queue>/<jobId> (e.g. events.default.live.key-1a2b3c4d5e6f/<jobId>), as \`relay dlq list\`
shows it. A replay puts the jobs back through the workers (batching, rate limits, Klaviyo's
unique_id, so nothing counts twice) as bulk work, so it never delays live traffic; --priority live
replays them as live work. --dry-run shows what would be sent and changes nothing. Every replay is
written to the audit log.`,
  },
  'dlq list': {
    usage: 'relay dlq list [--kind k] [--lane l] [--class c] [--code c] [--status n] [--source s] [--since t] [--until t] [--limit n] [--offset n] [--json]',
    help: '',
  },
  'dlq show': { usage: 'relay dlq show <queue>/<jobId> [--json]', help: '' },
  'dlq replay': { usage: 'relay dlq replay ([filters] | --id <ref>… | --all) [--priority live] [--dry-run] [--json]', help: '' },
  pause: {
    usage: 'relay pause <lane> [--json]',
    help: `Pause a lane: its workers stop calling Klaviyo; every job is kept (and nothing is lost) until
\`relay resume <lane>\`. The pause is written to the audit log. \`relay status\` lists the lanes.`,
  },
  resume: {
    usage: 'relay resume <lane> [--json]',
    help: `Resume a paused lane (paused by an operator, or by Klaviyo refusing the credentials).`,
  },
  find: {
    usage: 'relay find (--id <id> | --email <email> | --phone <+E164> | --external-id <id>) [--json]',
    help: `The jobs carrying an event, order, profile update or list request id, or a person.

  --id <id>             your id for the event, order, profile update or list request (as
                        posted), or an item's id as a dead letter shows it (order-7#line:3)
  --email <email>       a profile's email (scans the most recent jobs of each state)
  --phone <+E164>       a profile's phone number
  --external-id <id>    a profile's external id

Delivered items whose job is no longer kept are reported as delivered. List requests are
found by scanning the most recent jobs of each state, as a person is.`,
  },
  send: {
    usage: 'relay send [--event <name>] [--email <email>] [--phone <+E164>] [--external-id <id>] [--value <n>] [--id <id>] [--json]',
    help: `Post one test event to the relay's POST /v1/events with the API key, and print the answer.

  --event <name>        the metric (default "Placed Order")
  --email <email>       the profile's email (default relay-test@example.com when no other id is given)
  --phone <+E164>       the profile's phone number
  --external-id <id>    the profile's external id
  --value <n>           the event's value
  --id <id>             the event id (default: a new one); sending the same id again is a duplicate`,
  },
  privacy: {
    usage: 'relay privacy delete --email <e>|--phone <+E164>|--profile-id <id> [--id <id>] [--json] | suppress|unsuppress --email <e>…',
    help: `Privacy requests, with the API key.

  relay privacy delete --email <e> | --phone <+E164> | --profile-id <id> [--id <id>] [--json]
        erases the person from everything the relay holds (queued work is cancelled, delivered
        and dead-lettered copies, cached ids, audit entries and the spool purged), then queues
        Klaviyo's deletion job; prints what was removed where (the person only as a hash)
  relay privacy suppress --email <e> [--email <e>…]
        stops marketing email to these addresses at Klaviyo, without erasing anyone
  relay privacy unsuppress --email <e> [--email <e>…]
        lifts such a suppression`,
  },
  connections: {
    usage: 'relay connections list|create|get <id>|delete <id> [--json]',
    help: `Maton connections: each is one Klaviyo account the gateway can reach (MATON_CONNECTION_ID).

  relay connections list [--status ACTIVE|PENDING|FAILED] [--app <app>] [--json]
  relay connections create [--timeout <s>] [--json]
        creates a connection, prints the URL to open to authorize Klaviyo, and waits (polling
        every 2 s, at most --timeout seconds, default 300; 0 = do not wait) until it is ACTIVE;
        then prints the id to put in MATON_CONNECTION_ID
  relay connections get <id> [--json]
  relay connections delete <id> [--json]

Environment:
  MATON_API_KEY            your Maton API key (sent as Authorization: Bearer)
  MATON_CONNECTIONS_URL    Maton's connection API (default https://api.maton.ai; the older
                           https://ctrl.maton.ai works the same)`,
  },
  'connections list': { usage: 'relay connections list [--status ACTIVE|PENDING|FAILED] [--app <app>] [--json]', help: '' },
  'connections create': { usage: 'relay connections create [--timeout <s>] [--json]', help: '' },
  'connections get': { usage: 'relay connections get <id> [--json]', help: '' },
  'connections delete': { usage: 'relay connections delete <id> [--json]', help: '' },
  webhooks: {
    usage: 'relay webhooks topics|list|create|rotate <id>|delete <id>|test <id> …',
    help: `Klaviyo system webhooks (Klaviyo's Webhooks API, through the relay's /ops/webhooks).

  relay webhooks topics [--lane <lane>] [--json]
        the topics the account offers
  relay webhooks list [--lane <lane>] [--json]
        the account's webhooks: URL, topics, enabled, whether this relay holds their secret (and
        so verifies their deliveries), secrets in rotation, deliveries verified and refused
  relay webhooks create --url <public url> --topics <topic>,<topic> [--name <n>] [--description <d>]
                        [--lane <lane>] [--show-secret] [--rules] [--json]
        makes a strong secret, has the relay accept it, then creates the webhook at Klaviyo.
        --url is where Klaviyo POSTs: https://<public host>/webhooks/klaviyo (the relay itself is
        RELAY_URL). --show-secret prints the secret once, as the env: reference to add to
        RELAY_CONFIG and its value; --rules prints rules to start from for the topics
  relay webhooks rotate <id> [--grace <duration>] [--show-secret] [--json]
        zero downtime: the relay accepts a new secret first, then Klaviyo is told to sign with it;
        the old one is still accepted for --grace (default 10m) or until a minute after the first
        delivery signed with the new one
  relay webhooks delete <id> [--json]
        deletes it at Klaviyo, then its secrets here
  relay webhooks test <id> [--json]
        sends a delivery signed with its secret to its URL: it must reach this relay and verify
        (exit 1 when not)

Klaviyo allows 1 call per second and 15 per minute to this API: the relay spaces the calls out, so a
command may wait (up to about a minute) for its turn. An account without system-webhook access
(Klaviyo's 403 permission_denied) is told what to do instead (a flow webhook). Every change is in
the audit log.`,
  },
  'webhooks topics': { usage: 'relay webhooks topics [--lane <lane>] [--json]', help: '' },
  'webhooks list': { usage: 'relay webhooks list [--lane <lane>] [--json]', help: '' },
  'webhooks create': {
    usage: 'relay webhooks create --url <public url> --topics <topic>,<topic> [--name <n>] [--lane <lane>] [--show-secret] [--rules] [--json]',
    help: '',
  },
  'webhooks rotate': { usage: 'relay webhooks rotate <id> [--grace <duration>] [--lane <lane>] [--show-secret] [--json]', help: '' },
  'webhooks delete': { usage: 'relay webhooks delete <id> [--lane <lane>] [--json]', help: '' },
  'webhooks test': { usage: 'relay webhooks test <id> [--json]', help: '' },
  doctor: {
    usage: 'relay doctor [--json]',
    help: `Check the setup, one line per check (✓ passed, ✗ failed, ! warning, - skipped), each failure
with its fix. Reads the same environment as the relay (run it where the relay runs):

  Redis              answers at REDIS_URL, with its TLS and credentials (as the relay connects)
  configuration      the environment parses; so does RELAY_CONFIG when set
  credentials        a cheap Klaviyo call (GET /api/accounts) per lane, through the gateway or direct
  revision           Klaviyo accepts KLAVIYO_REVISION
  clock              the local clock agrees with the Date of Klaviyo's answer (warns above 5 s)
  relay API          GET /readyz answers, and /ops accepts the admin token (when RELAY_URL or --url is set)
  webhooks           each Klaviyo webhook the relay created: a delivery signed with its secret, sent
                     to its public URL, reaches this relay and verifies (relay webhooks test)

Exit status 1 if any check fails.`,
  },
};

/** The full help of a command ("dlq replay" falls back to "dlq"). */
export function helpFor(command: string): string {
  const h = HELP[command];
  const parent = HELP[command.split(' ')[0]!];
  const body = h?.help || parent?.help || '';
  return `Usage: ${h?.usage ?? parent?.usage ?? 'relay <command>'}\n\n${body}\n\n${COMMON_HELP}`;
}

export function usageFor(command: string | undefined): string {
  if (!command) return SUMMARY;
  const h = HELP[command] ?? HELP[command.split(' ')[0]!];
  return `Usage: ${h?.usage ?? 'relay <command>'}\nRun \`relay ${command} --help\` for details.`;
}
