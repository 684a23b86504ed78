/**
 * Issue 7: the relay on a Redis Cluster (3 masters with a replica each) with 2 API and 3 worker
 * processes, under load, while one worker is SIGKILLed, the master holding the events queue
 * is failed over (CLUSTER FAILOVER on its replica, then SIGKILL of the old master), and then a
 * worker and an API process shut down gracefully (SIGTERM; the API is restarted on its port). Every
 * accepted event must arrive exactly once in effect, the profile operations must take effect in
 * order, and the simulator (enforcing Klaviyo's and the gateway's limits) must never see the
 * relay over them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CONNECTION, MATON_KEY, drainAndCompare, formatRows, Loader, planLoad, record, sleep, type Verdict } from '../faults/harness.ts';
import { waitUntil } from '../support/wait.ts';
import { quotaScopeId } from '../../src/lanes.ts';
import { maskSecret } from '../../src/sim/snapshot.ts';
import { CLUSTER_TABLE_FILE, ClusterScenario, WARM_UP_MATON_KEY, type FailoverTimes } from './cluster-scenario.ts';
import { BucketWatch, checkLimits, gatewayHotSeconds } from './limits.ts';
import { logDigest } from './logs.ts';
import { checkProfiles, ProfileLoad, profileTimeline, type ProfileVerdict } from './profile-ops.ts';

const EVENTS = 4000;
const PROFILES = 12;

let sc: ClusterScenario | undefined;
afterEach(async () => {
  if (sc) writeFileSync(join(sc.logDir, 'cluster.log'), `${sc.clusterLog.join('\n')}\n`);
  await sc?.cleanup();
  sc = undefined;
});

describe('Redis Cluster: 3 masters + 3 replicas, 2 API and 3 worker processes', () => {
  it('kill -9 a worker, fail over a master, SIGTERM a worker and an API under load: every accepted event once, profile order kept, limits never exceeded', async () => {
    const t0 = Date.now();
    sc = await ClusterScenario.startCluster('failover', { apis: 2, workers: 3 });
    const s = sc;
    const notes: string[] = [`cluster and relay up in ${((Date.now() - t0) / 1000).toFixed(1)} s (masters ${s.seedMasters.join(', ')})`];
    const events = await s.masterFor('events.default');
    const profilesQ = await s.masterFor('profiles.default');
    // The quota governor's keys share the tag of the lane's quota scope: a hash of the Maton key.
    const scope = quotaScopeId(MATON_KEY);
    const governor = await s.masterFor(scope);
    // Every gateway token the governor grants (workers/quota-governor.ts: `<prefix>:gov:{scope}:gateway:1s`).
    const gatewayBucket = new BucketWatch(() => s.zrangeWithScores(`relay:gov:{${scope}}:gateway:1s`));
    s.clusterLog.push(
      `events.default: slot ${events.slot} on master ${events.port} (replica ${events.replica}); profiles.default: slot ${profilesQ.slot} on master ${profilesQ.port}; governor: slot ${governor.slot} on master ${governor.port}`,
    );

    const loader = new Loader(() => s.nextApiUrl(), planLoad('cluster', EVENTS, 7));
    const profiles = new ProfileLoad(PROFILES);
    const loadStart = Date.now();
    const load = loader.run({ concurrency: 8, durationMs: 20_000 });
    const profileRun = profiles.runScripts(() => s.nextApiUrl(), 1_600);

    // The worker dies while deliveries are under way.
    const delivered = await waitUntil(
      'deliveries under way',
      async () => {
        const n = (await s.simStats()).events[CONNECTION]?.accepted ?? 0;
        return n >= 600 && n;
      },
      { timeoutMs: 40_000, intervalMs: 50 },
    );
    const counts = await s.queueCounts();
    const victim = s.workers[0]!;
    const killAt = Date.now();
    await victim.kill9();
    notes.push(
      `worker ${victim.name} SIGKILLed at ${s.elapsed()} s (${new Date(killAt).toISOString().slice(11, 23)}) (${delivered} events delivered, ${counts?.active ?? '?'} events jobs active)`,
    );

    // A few seconds later, while the dead worker's jobs are still locked, the events queue's master fails over.
    await sleep(3000);
    const fo: FailoverTimes = await s.failover(events.port, events.replica);
    notes.push(
      `failover at ${fo.at} s: master ${fo.oldMaster} (events.default's slot ${events.slot}${profilesQ.port === events.port ? ', profiles.default too' : ''}${governor.port === events.port ? ', the quota governor too' : ''}) → replica ${fo.newMaster}, role:master after ${fo.promotedMs} ms, old master SIGKILLed ${fo.killedMs} ms after the CLUSTER FAILOVER`,
    );

    // Then one worker and one API process shut down gracefully (SIGTERM) while the load goes on;
    // the API comes back on its port, as a rolling restart would bring it.
    await sleep(1500);
    const stopped = await Promise.all([s.workers[1]!.stop('SIGTERM'), s.apis[1]!.stop('SIGTERM')]);
    notes.push(
      `at ${s.elapsed()} s SIGTERM: ${s.workers[1]!.name} exited ${stopped[0].code} in ${stopped[0].ms} ms${stopped[0].forced ? ' (forced)' : ''}, ${s.apis[1]!.name} exited ${stopped[1].code} in ${stopped[1].ms} ms${stopped[1].forced ? ' (forced)' : ''}`,
    );
    s.apis[1] = await s.startApi(s.apiPorts[1]);

    await load;
    await profileRun;
    await loader.retryFailed({ rounds: 5, pauseMs: 1000 });
    const ingestEnd = Date.now();
    notes.push(
      `ingest ${((ingestEnd - loadStart) / 1000).toFixed(1)} s; answered from an API's local spool (Redis did not take them): ${loader.spooledAtIngest} events, ${profiles.spooled()} profile ops; profile ops: ${profiles.accepted}/${profiles.operations} accepted (${profiles.reposted} re-posts; answers ${profiles.statusSummary()})`,
    );

    const v = await drainAndCompare(s, loader, { since: ingestEnd, timeoutMs: 120_000, notes });

    // The profile operations drain too (bounded), then their end state is compared with the scripts'.
    let pv: ProfileVerdict = { matching: 0, mismatches: ['not checked'], repeatedCalls: 0 };
    const profilesDone = await waitUntil(
      'profile operations applied',
      async () => {
        const c = await s.queueCounts('profiles');
        pv = await checkProfiles(s.simUrl, CONNECTION, profiles);
        return c?.pending === 0 && pv.mismatches.length === 0;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    ).catch(() => false);
    const profileCounts = await s.queueCounts('profiles');
    for (const m of pv.mismatches) {
      const email = m.slice(0, m.indexOf(':'));
      s.clusterLog.push(
        `profile ${email} posted: ${profiles.describePosts(email)}`,
        `profile ${email} Klaviyo saw: ${await profileTimeline(s.simUrl, CONNECTION, email)}`,
      );
    }
    const settle = await fo.settled;
    const limits = checkLimits(await s.simStats(), CONNECTION, [maskSecret(WARM_UP_MATON_KEY)]);
    const digest = logDigest(s.logDir);
    await gatewayBucket.stop();
    const granted = gatewayBucket.peaks(1000);
    const hot = await gatewayHotSeconds(s.simUrl, [
      { label: 'the load started', at: loadStart },
      { label: 'the worker kill', at: killAt },
      { label: 'the failover', at: fo.atMs },
    ]);
    s.clusterLog.push(...hot);
    for (const h of hot) {
      const t = Date.parse(/gateway second (\S+)/.exec(h)![1]!);
      s.clusterLog.push(
        `  governor grants in that second (ms into it): ${gatewayBucket.inSecond(t).join(', ')}; in the second before: ${gatewayBucket.inSecond(t - 1000).join(', ')}`,
      );
    }
    for (const g of digest.groups) s.clusterLog.push(`log: ${g.count}× ${g.key} (${[...g.processes].join(', ')}); first: ${g.first}`);

    const extra = [
      `cluster settled ${settle.topologyMs ?? '?'} ms after the CLUSTER FAILOVER (every live node cluster_state:ok and agreeing on the new master), old master flagged fail by all after ${settle.failFlaggedMs ?? `>${45} s`} ms`,
      `profiles: ${pv.matching}/${PROFILES} in the expected end state${profilesDone ? '' : ` (queue ${JSON.stringify(profileCounts)})`}, ${pv.repeatedCalls} subscription call(s) repeated by a redelivery`,
      `simulator throttled: gateway ${limits.throttled.gateway}, klaviyo ${limits.throttled.klaviyo}; peak requests sent / limit: ${limits.peaks.join(', ')}`,
      `governor gateway grants: ${granted.total} seen, at most ${granted.sliding} in any 1 s interval (${new Date(granted.slidingAt).toISOString()}), ${granted.fixedSecond} in one fixed second`,
      ...(hot.length > 0 ? [`gateway over its limit or 429 in ${hot.length} second(s): ${hot.join(' | ')}`] : []),
      `relay warnings/errors: ${digest.summary || 'none'}`,
      `cluster now: ${await s.clusterStates()}`,
    ];
    const row: Verdict = { ...v, scenario: 'cluster: kill -9 worker, master failover, SIGTERM worker + API', notes: [v.notes, ...extra].join('; ') };
    record(row, CLUSTER_TABLE_FILE);
    s.clusterLog.push(formatRows([row]), v.notes, ...extra, ...pv.mismatches.map((m) => `profile mismatch: ${m}`));

    for (const exit of stopped) expect(exit, `a graceful shutdown: exit 0 within the shutdown timeout; ${row.notes}`).toMatchObject({ code: 0, forced: false });
    expect(v.lost, `lost events, e.g. ${v.lostSample.join(', ')}; ${row.notes}`).toBe(0);
    expect(v.unexpected, row.notes).toBe(0);
    expect(v.drained, row.notes).toBe(true);
    expect(profiles.refused, 'profile operations never accepted').toEqual([]);
    expect(pv.mismatches, 'profile operations out of order or missing').toEqual([]);
    expect(limits.throttled, 'the simulator throttled the relay').toEqual({ gateway: 0, klaviyo: 0 });
    expect(limits.over, 'peaks over the documented limits').toEqual([]);
  });
});
