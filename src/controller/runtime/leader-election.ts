import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { MeshcaError, toMeshcaError } from '../../errors/index.js';
import type { Store } from '../../store/store.js';
import type { ReconcileContext } from './controller.js';
import { nodeSetTimer, type SetTimer } from './set-timer.js';

/** The lease the lifecycle controllers hold while they act. */
export const CONTROLLER_LEASE_NAME = 'meshca-controller';

/** Options of LeaderElector; durations as in Kubernetes' client-go leader election. */
export interface LeaderElectionOptions {
  readonly store: Store;
  /** Namespace of the lease (the certificate namespace). */
  readonly namespace: string;
  /** Lease name (default meshca-controller). */
  readonly name?: string;
  /** Who we are in the lease (default hostname-pid-random). */
  readonly identity?: string;
  /** How long a lease lasts without renewal (default 15 s). */
  readonly leaseDurationMs?: number;
  /** How often the leader renews (default 5 s). */
  readonly renewIntervalMs?: number;
  /**
   * A leader whose last successful renewal is this old, by its own clock, stops acting at once,
   * whether or not a store call failed or is still running; `leaseDurationMs - renewDeadlineMs`
   * is the margin for clock drift and pauses (default 10 s).
   */
  readonly renewDeadlineMs?: number;
  /** How often a follower tries to acquire (default 2 s). */
  readonly retryIntervalMs?: number;
  readonly now?: () => Date;
  readonly setTimer?: SetTimer;
  readonly log?: ReconcileContext['log'];
  /** Called when this process becomes the leader. */
  readonly onStartedLeading: () => void | Promise<void>;
  /** Called when it stops being the leader (lost the lease, could not renew, or stop()). */
  readonly onStoppedLeading: () => void | Promise<void>;
}

/** A lease holder identity that is unique per process: hostname-pid-random. */
export function defaultLeaderIdentity(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Leader election through the store's leases: the leader renews every `renewIntervalMs`; a
 * follower retries every `retryIntervalMs` and takes the lease once it has gone unrenewed for
 * `leaseDurationMs`. A leader acts only while its last successful renewal (timed from when the
 * renewal was sent) is younger than `renewDeadlineMs` by its own clock: past that it steps down
 * at once, before any peer may take the lease, even if the store never answers. Callbacks run
 * one at a time and in order, so a start never overlaps a stop.
 */
export class LeaderElector {
  /** This process's holder identity. */
  readonly identity: string;
  private readonly store: Store;
  private readonly namespace: string;
  private readonly name: string;
  private readonly leaseDurationMs: number;
  private readonly renewIntervalMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryIntervalMs: number;
  private readonly now: () => Date;
  private readonly setTimer: SetTimer;
  private readonly log: ReconcileContext['log'];
  private readonly onStarted: () => void | Promise<void>;
  private readonly onStopped: () => void | Promise<void>;
  private leading = false;
  private running = false;
  private lastRenew = 0;
  private cancelTimer: (() => void) | undefined;
  private cancelDeadline: (() => void) | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private transitions: Promise<void> = Promise.resolve();

  /** Checks the durations; start() begins campaigning. */
  constructor(options: LeaderElectionOptions) {
    this.store = options.store;
    this.namespace = options.namespace;
    this.name = options.name ?? CONTROLLER_LEASE_NAME;
    this.identity = options.identity ?? defaultLeaderIdentity();
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewIntervalMs = options.renewIntervalMs ?? 5_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryIntervalMs = options.retryIntervalMs ?? 2_000;
    this.now = options.now ?? ((): Date => new Date());
    this.setTimer = options.setTimer ?? nodeSetTimer(this.now);
    this.log = options.log ?? ((): void => undefined);
    this.onStarted = options.onStartedLeading;
    this.onStopped = options.onStoppedLeading;
    for (const [n, v] of Object.entries({
      leaseDurationMs: this.leaseDurationMs,
      renewIntervalMs: this.renewIntervalMs,
      renewDeadlineMs: this.renewDeadlineMs,
      retryIntervalMs: this.retryIntervalMs,
    })) {
      if (!Number.isFinite(v) || v <= 0) {
        throw new MeshcaError(
          'INVALID_INPUT',
          `leader election ${n} must be a positive number, got ${String(v)}`,
        );
      }
    }
    if (!(this.renewIntervalMs < this.renewDeadlineMs && this.renewDeadlineMs < this.leaseDurationMs)) {
      throw new MeshcaError(
        'INVALID_INPUT',
        `leader election needs renewIntervalMs < renewDeadlineMs < leaseDurationMs, got ${this.renewIntervalMs} < ${this.renewDeadlineMs} < ${this.leaseDurationMs}`,
        {
          hint: 'a leader must renew several times before it gives up, and give up before the lease expires',
        },
      );
    }
  }

  /**
   * True while this process holds the lease and renewed it within the renew deadline by its own
   * clock. Asking after the deadline has passed steps down (onStoppedLeading runs) at once.
   */
  get isLeader(): boolean {
    this.checkDeadline();
    return this.leading;
  }

  /** Begins campaigning: tries at once, then on its schedule. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.ticking = this.tick();
  }

  /** Stops campaigning; a leader steps down (its callback has run when this resolves) and releases the lease so a peer takes over at once. */
  async stop(): Promise<void> {
    if (!this.running) return this.transitions;
    this.running = false;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    await this.ticking;
    if (this.leading) this.step(false, 'stopping');
    // Stop acting first, then let a peer take over at once (a no-op when a peer holds it).
    await this.transitions;
    try {
      await this.store.releaseLease(this.name, this.namespace, this.identity);
    } catch (err) {
      this.log('warn', 'cannot release the controller lease; a peer takes over when it expires', {
        error: toMeshcaError(err).message,
      });
    }
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.cancelTimer = this.setTimer(new Date(this.now().getTime() + delayMs), () => {
      this.cancelTimer = undefined;
      this.ticking = this.tick();
    });
  }

  /** True when the last successful renewal is at least `renewDeadlineMs` old by our clock. */
  private renewalExpired(): boolean {
    return this.now().getTime() - this.lastRenew >= this.renewDeadlineMs;
  }

  /** Steps down if we lead on a renewal older than the renew deadline. */
  private checkDeadline(): void {
    if (this.leading && this.renewalExpired()) {
      this.log('error', 'the controller lease was not renewed within the renew deadline; stepping down', {
        renewDeadlineMs: this.renewDeadlineMs,
        sinceLastRenewalMs: this.now().getTime() - this.lastRenew,
      });
      this.step(false, 'renew deadline passed');
    }
  }

  /** Arms the step-down at the renew deadline of the renewal just made (replacing the last one). */
  private armDeadline(): void {
    this.cancelDeadline?.();
    this.cancelDeadline = this.setTimer(new Date(this.lastRenew + this.renewDeadlineMs), () => {
      this.cancelDeadline = undefined;
      this.checkDeadline();
    });
  }

  private async tick(): Promise<void> {
    // A paused process (VM resume, a stopped event loop) may find its renewal already too old:
    // stop acting before waiting on the store.
    this.checkDeadline();
    const now = this.now().getTime();
    let held: boolean;
    try {
      const lease = await this.store.acquireLease({
        name: this.name,
        namespace: this.namespace,
        holderIdentity: this.identity,
        leaseDurationMs: this.leaseDurationMs,
        now,
      });
      held = lease !== undefined;
    } catch (err) {
      if (!this.running) return;
      // The store is unreachable: keep leading until the renew deadline, then step down, since a
      // peer may take the lease once it expires.
      const error = toMeshcaError(err).message;
      if (this.leading && this.renewalExpired()) {
        this.log('error', 'cannot renew the controller lease; stepping down', { error });
        this.step(false, 'renew deadline passed');
      } else {
        this.log('warn', 'cannot reach the controller lease; retrying', { error });
      }
      this.schedule(
        this.leading ? Math.min(this.retryIntervalMs, this.renewIntervalMs) : this.retryIntervalMs,
      );
      return;
    }
    // stop() came while we were acquiring: it releases what we may just have taken.
    if (!this.running) return;
    if (held) {
      this.lastRenew = now;
      if (this.renewalExpired()) {
        // The store answered too late: by our clock this renewal is already past the deadline,
        // so peers may soon take the lease. Never act on it; renew again.
        this.checkDeadline();
        this.log('warn', 'the controller lease renewal came back after the renew deadline; retrying', {
          renewDeadlineMs: this.renewDeadlineMs,
        });
        this.schedule(Math.min(this.retryIntervalMs, this.renewIntervalMs));
        return;
      }
      if (!this.leading) this.step(true, 'acquired the lease');
      this.armDeadline();
      this.schedule(this.renewIntervalMs);
    } else {
      if (this.leading) this.step(false, 'another process holds the lease');
      this.schedule(this.retryIntervalMs);
    }
  }

  private step(leading: boolean, why: string): void {
    this.leading = leading;
    if (!leading) {
      this.cancelDeadline?.();
      this.cancelDeadline = undefined;
    }
    this.log('info', leading ? 'became the controller leader' : 'stopped being the controller leader', {
      identity: this.identity,
      lease: `${this.namespace}/${this.name}`,
      reason: why,
    });
    const callback = leading ? this.onStarted : this.onStopped;
    this.transitions = this.transitions.then(async () => {
      try {
        await callback();
      } catch (err) {
        this.log('error', leading ? 'cannot start the controllers' : 'cannot stop the controllers', {
          error: toMeshcaError(err).message,
        });
      }
    });
  }
}
