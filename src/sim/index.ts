/**
 * The Klaviyo + Maton gateway simulator used by the tests (in-process, over real sockets) and as
 * the sandbox behind `npm start`. See simulator.ts for the surface and api-pipeline.ts for the
 * order of checks.
 */
export { createSimulator } from './simulator.ts';
export type { Simulator, SimStats, EventFilter, RequestFilter } from './simulator.ts';
export { startSimulator } from './server.ts';
export type { RunningSimulator } from './server.ts';
export type { SimulatorOptions, ResolvedOptions, EndpointLimit } from './options.ts';
export type { FaultRule, FaultRuleState, FaultControl } from './faults.ts';
export type { ConnectionControl, MatonConnection, ConnectionStatus } from './connections.ts';
export type {
  SimState,
  SimAccount,
  SimProfile,
  SimEvent,
  SubscriptionOp,
  ConsentRecord,
  ListSuppression,
  BulkImportJob,
  ImportError,
  Channel,
} from './state.ts';
export type { RecordedRequest, StatsSnapshot } from './request-log.ts';
export type { PeakStats, KlaviyoPeak, GatewayPeak } from './rate-limits.ts';
export type { SnapshotOptions } from './snapshot.ts';
export type { KlaviyoErrorBody, KlaviyoErrorObject, GatewayErrorBody } from './json-api.ts';
