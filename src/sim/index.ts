/**
 * The Klaviyo + Maton gateway simulator used by the tests (in-process, over real sockets) and as
 * the sandbox behind `npm start`. See simulator.ts for the surface and api-pipeline.ts for the
 * order of checks.
 */
export { createSimulator } from './simulator.ts';
export type { Simulator } from './simulator.ts';
export { startSimulator } from './server.ts';
export type { RunningSimulator } from './server.ts';
export type { SimulatorOptions } from './options.ts';
export type { FaultRule } from './faults.ts';
export type { SimAccount } from './state.ts';
