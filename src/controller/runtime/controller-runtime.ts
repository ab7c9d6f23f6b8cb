import type { Store } from '../../store/store.js';
import type { Controller, ReconcileContext } from './controller.js';
import { ControllerManager, type ControllerManagerOptions } from './controller-manager.js';
import { LeaderElector, type LeaderElectionOptions } from './leader-election.js';
import type { SetTimer } from './set-timer.js';

/** Options of startControllerRuntime. */
export interface ControllerRuntimeOptions {
  readonly store: Store;
  readonly controllers: readonly Controller[];
  /** Namespace of the leader lease (the certificate namespace). */
  readonly leaseNamespace: string;
  /** Holder identity in the lease (default hostname-pid-random). */
  readonly identity?: string;
  readonly now?: () => Date;
  readonly setTimer?: SetTimer;
  readonly log?: ReconcileContext['log'];
  /** Passed on to the manager (concurrency, retry, hooks). */
  readonly manager?: Omit<ControllerManagerOptions, 'store' | 'controllers' | 'now' | 'setTimer' | 'log'>;
  /** Passed on to the elector (durations). */
  readonly leaderElection?: Pick<
    LeaderElectionOptions,
    'leaseDurationMs' | 'renewIntervalMs' | 'renewDeadlineMs' | 'retryIntervalMs'
  >;
}

/** Controllers running under leader election. */
export interface ControllerRuntime {
  readonly manager: ControllerManager;
  readonly elector: LeaderElector;
  /** Steps down (waiting for running reconciles) and releases the lease. */
  stop(): Promise<void>;
}

/**
 * Runs `controllers` only while this process holds the controller lease: the manager starts
 * when the lease is won and stops at once when it is lost, so of several `meshca serve` on one
 * store exactly one acts. Returns at once; leadership comes on the elector's schedule.
 */
export function startControllerRuntime(options: ControllerRuntimeOptions): ControllerRuntime {
  const manager = new ControllerManager({
    ...options.manager,
    store: options.store,
    controllers: options.controllers,
    ...(options.now !== undefined && { now: options.now }),
    ...(options.setTimer !== undefined && { setTimer: options.setTimer }),
    ...(options.log !== undefined && { log: options.log }),
  });
  const elector = new LeaderElector({
    ...options.leaderElection,
    store: options.store,
    namespace: options.leaseNamespace,
    ...(options.identity !== undefined && { identity: options.identity }),
    ...(options.now !== undefined && { now: options.now }),
    ...(options.setTimer !== undefined && { setTimer: options.setTimer }),
    ...(options.log !== undefined && { log: options.log }),
    onStartedLeading: () => manager.start(),
    onStoppedLeading: () => manager.stop(),
  });
  elector.start();
  return {
    manager,
    elector,
    stop: async () => {
      await elector.stop();
      await manager.stop();
    },
  };
}
