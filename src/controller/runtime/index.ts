/** The controller runtime: the Controller contract, the manager that runs controllers, leader election. */
export type { Controller, ReconcileContext, ReconcileResult } from './controller.js';
export {
  ControllerManager,
  type ControllerManagerOptions,
  type ReconcileOutcome,
  type RetryPolicy,
} from './controller-manager.js';
export {
  startControllerRuntime,
  type ControllerRuntime,
  type ControllerRuntimeOptions,
} from './controller-runtime.js';
export {
  CONTROLLER_LEASE_NAME,
  defaultLeaderIdentity,
  LeaderElector,
  type LeaderElectionOptions,
} from './leader-election.js';
export { CRASH_POINTS, parseCrashPoint, withCrashPoint, type CrashPointName } from './crash-points.js';
export { nodeSetTimer, type SetTimer } from './set-timer.js';
export { TimerHeap, type TimerEntry } from './timer-heap.js';
