import { randomUUID } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditRecord } from '../../api/audit-record.js';
import type { Resource, ResourceKey, ResourceType } from '../../api/resource.js';
import { MeshcaError } from '../../errors/index.js';
import { checkAuditBatch, pruneCutoffMs, resolveAuditQuery } from '../audit-rules.js';
import { canonicalJson } from '../canonical-json.js';
import { decodeContinueToken, encodeContinueToken } from '../continue-token.js';
import { matchesLabelSelector, parseLabelSelector, type LabelSelector } from '../label-selector.js';
import { checkLeaseRequest, checkLeaseKey } from '../lease-rules.js';
import {
  MAX_RESOURCE_BYTES,
  checkResource,
  checkResourceKey,
  checkResourceType,
  namespaceProblem,
  tooLarge,
} from '../resource-rules.js';
import type {
  AuditQuery,
  Lease,
  LeaseRequest,
  ListOptions,
  ResourceList,
  Store,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOp,
} from '../store.js';
import {
  AUDIT_INSERT_SQL,
  AUDIT_PRUNE_SQL,
  AuditWriterThread,
  type AuditRow as AuditInsertRow,
} from './audit-writer-thread.js';
import { ChangeHub } from './change-hub.js';
import { MIGRATIONS } from './migrations.js';
import { mapSqliteError } from './sqlite-errors.js';
import { SqliteWatch } from './sqlite-watch.js';

/** The store's file name inside the meshca home. */
export const DEFAULT_STORE_FILE = 'store.db';
/** Most operations in one transaction. */
export const MAX_TRANSACTION_OPS = 256;

/** How many events the store keeps for watches to resume from. */
export interface EventRetention {
  /** Keep at most this many of the newest events (default 10,000). */
  maxEvents?: number;
  /** Drop events older than this, by the store's clock (default 1 h). */
  maxAgeMs?: number;
}

/** Options of openSqliteStore. */
export interface SqliteStoreOptions {
  /** The database file (conventionally `<meshca home>/store.db`), or ':memory:'. */
  path: string;
  /** ms since the epoch; stamps creationTimestamp and events (default Date.now). */
  clock?: () => number;
  /** Makes metadata.uid (default crypto.randomUUID). */
  uid?: () => string;
  /** How often a waiting watch looks for writes by other processes (default 100 ms). */
  pollIntervalMs?: number;
  eventRetention?: EventRetention;
  /** When set, appendAudit also drops records issued longer ago than this. */
  auditRetentionMs?: number;
  /** How long a write waits for another process's lock before STORE_UNAVAILABLE (default 5000 ms). */
  busyTimeoutMs?: number;
  /** SQLite's synchronous pragma: FULL (default) also survives power loss, NORMAL only process crashes. */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * Write audit batches on a thread of their own with a second connection (default: true for a
   * file, never for ':memory:'), so a batch never stalls the caller's event loop.
   */
  auditWriterThread?: boolean;
}

interface ResourceRow {
  namespace: string;
  name: string;
  resource_version: number;
  labels: string;
  body: string;
}

interface EventRow {
  revision: number;
  type: WatchEvent['type'];
  labels: string;
  prev_labels: string | null;
  body: string;
}

interface StateRow {
  revision: number;
  compacted_revision: number;
}

interface LeaseRow {
  namespace: string;
  name: string;
  holder_identity: string;
  acquire_time: number;
  renew_time: number;
  lease_duration_ms: number;
  lease_transitions: number;
}

interface AuditRow {
  serial_number: string;
  identity: string;
  caller: string;
  cluster_id: string;
  not_before: string;
  not_after: string;
  fingerprint_sha256: string;
  issuer: string;
  issued_at: string;
}

const COMPACT_EVERY_WRITES = 100;
const WATCH_BATCH = 256;
const REVISION = /^(0|[1-9][0-9]{0,15})$/;

const positiveInt = (value: unknown, name: string, fallback: number): number => {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `store option ${name} must be a positive integer, got ${JSON.stringify(value) ?? typeof value}`,
    );
  }
  return value as number;
};

const parseRevision = (rv: unknown, what: string): number => {
  if (typeof rv !== 'string' || !REVISION.test(rv)) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `${what} ${JSON.stringify(rv)} is not a resourceVersion this store gave out: use one read from the store`,
    );
  }
  return Number(rv);
};

const keyText = (k: ResourceKey): string =>
  `${k.apiVersion} ${k.kind} ${k.namespace ? `${k.namespace}/` : ''}${k.name}`;

/** Everything that makes up `spec` for generation purposes: all but apiVersion, kind, metadata, status. */
const specOf = (r: Resource): string => {
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = r;
  return canonicalJson(rest);
};

const withoutVersion = (r: Resource): string =>
  canonicalJson({ ...r, metadata: { ...r.metadata, resourceVersion: undefined } });

const rfc3339Seconds = (ms: number): string =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** Opens (creating and migrating as needed) the SQLite store at `options.path`. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return SqliteStore.open(options);
}

/**
 * The embedded store: one SQLite file in WAL mode. Every write takes the next global revision
 * and appends an event in the same transaction, so watches in any process see every change.
 * See docs/store.md.
 */
export class SqliteStore implements Store {
  private readonly watches = new Set<{ close(): void }>();
  private readonly hub: ChangeHub;
  private readonly statements = new Map<string, Database.Statement>();
  private closed = false;
  private wrote = false;
  private writesSinceCompaction = 0;
  /** Writes waiting for the next group commit (see write). */
  private pending: PendingWrite[] = [];
  private flushScheduled = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly clock: () => number,
    private readonly makeUid: () => string,
    private readonly busyTimeoutMs: number,
    private readonly retention: Required<EventRetention>,
    private readonly auditRetentionMs: number | undefined,
    pollIntervalMs: number,
    private readonly auditWriter: AuditWriterThread | undefined,
  ) {
    let lastDataVersion = this.dataVersion();
    this.hub = new ChangeHub(
      pollIntervalMs,
      file === ':memory:'
        ? undefined
        : () => {
            const now = this.dataVersion();
            const changed = now !== lastDataVersion;
            lastDataVersion = now;
            return changed;
          },
    );
  }

  /** Opens a store; see openSqliteStore. */
  static open(options: SqliteStoreOptions): SqliteStore {
    if (typeof options?.path !== 'string' || options.path.length === 0) {
      throw new MeshcaError('INVALID_INPUT', 'store path must be a file path or ":memory:"');
    }
    const file = options.path;
    const busyTimeoutMs = positiveInt(options.busyTimeoutMs, 'busyTimeoutMs', 5000);
    const pollIntervalMs = positiveInt(options.pollIntervalMs, 'pollIntervalMs', 100);
    const retention = {
      maxEvents: positiveInt(options.eventRetention?.maxEvents, 'eventRetention.maxEvents', 10_000),
      maxAgeMs: positiveInt(options.eventRetention?.maxAgeMs, 'eventRetention.maxAgeMs', 3_600_000),
    };
    const auditRetentionMs =
      options.auditRetentionMs === undefined
        ? undefined
        : positiveInt(options.auditRetentionMs, 'auditRetentionMs', 1);
    const synchronous = options.synchronous ?? 'FULL';
    if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
      throw new MeshcaError('INVALID_INPUT', 'store option synchronous must be "FULL" or "NORMAL"');
    }
    const clock = options.clock ?? Date.now;
    if (file !== ':memory:') createPrivateFile(file);
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: busyTimeoutMs });
    } catch (err) {
      throw mapSqliteError(err, file, busyTimeoutMs);
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      migrate(db, file, clock);
    } catch (err) {
      db.close();
      throw mapSqliteError(err, file, busyTimeoutMs);
    }
    if (file !== ':memory:') for (const f of [`${file}-wal`, `${file}-shm`]) tightenMode(f);
    const store = new SqliteStore(
      db,
      file,
      clock,
      options.uid ?? randomUUID,
      busyTimeoutMs,
      retention,
      auditRetentionMs,
      pollIntervalMs,
      file !== ':memory:' && (options.auditWriterThread ?? true)
        ? new AuditWriterThread({ file, busyTimeoutMs, synchronous })
        : undefined,
    );
    store.compact();
    return store;
  }

  // ---- resources ---------------------------------------------------------------------------

  /** See Store.create. */
  create<T extends Resource>(resource: T): Promise<T> {
    return this.promise(() => this.write(() => this.doCreate(resource) as T));
  }

  /** See Store.get. */
  get<T extends Resource>(key: ResourceKey): Promise<T> {
    return this.promise(() => {
      const found = this.read(() => this.find(key));
      if (found === undefined) throw new MeshcaError('NOT_FOUND', `${keyText(key)} not found`);
      return JSON.parse(found.body) as T;
    });
  }

  /** See Store.tryGet. */
  tryGet<T extends Resource>(key: ResourceKey): Promise<T | undefined> {
    return this.promise(() => {
      const found = this.read(() => this.find(key));
      return found === undefined ? undefined : (JSON.parse(found.body) as T);
    });
  }

  /** See Store.list. Pages continue in (namespace, name) order and all report the first page's resourceVersion. */
  list<T extends Resource>(type: ResourceType, options: ListOptions = {}): Promise<ResourceList<T>> {
    return this.promise(() => {
      checkResourceType(type);
      const namespace = checkNamespaceOption(options.namespace);
      const selectorText = options.labelSelector ?? '';
      const selector = parseLabelSelector(selectorText);
      const limit = options.limit ?? 0;
      if (!Number.isSafeInteger(limit) || limit < 0) {
        throw new MeshcaError(
          'INVALID_INPUT',
          `list limit must be a non-negative integer (0 = all), got ${String(limit)}`,
        );
      }
      const scope = `${type.apiVersion}|${type.kind}|${namespace ?? '*'}|${selectorText}`;
      const token = options.continue === undefined ? undefined : decodeContinueToken(options.continue, scope);
      return this.read(() => {
        const state = this.state();
        const rows = this.stmt(
          namespace === undefined ? 'list' : 'list-ns',
          `SELECT namespace, name, labels, body FROM resources
           WHERE api_version = @apiVersion AND kind = @kind ${namespace === undefined ? '' : 'AND namespace = @namespace'}
             AND (namespace, name) > (@afterNamespace, @afterName)
           ORDER BY namespace, name`,
        ).iterate({
          apiVersion: type.apiVersion,
          kind: type.kind,
          ...(namespace === undefined ? {} : { namespace }),
          afterNamespace: token?.after[0] ?? '',
          afterName: token?.after[1] ?? '',
        }) as IterableIterator<ResourceRow>;
        const items: ResourceRow[] = [];
        let more = false;
        for (const row of rows) {
          if (!matchesLabelSelector(selector, JSON.parse(row.labels) as Record<string, string>)) continue;
          if (limit > 0 && items.length === limit) {
            more = true;
            break;
          }
          items.push(row);
        }
        const resourceVersion = token?.resourceVersion ?? String(state.revision);
        const last = items.at(-1);
        const result: ResourceList<T> = {
          items: items.map((r) => JSON.parse(r.body) as T),
          resourceVersion,
        };
        if (more && last !== undefined) {
          result.continue = encodeContinueToken({
            scope,
            resourceVersion,
            after: [last.namespace, last.name],
          });
        }
        return result;
      });
    });
  }

  /** See Store.update. An update that changes nothing writes nothing and returns the stored object. */
  update<T extends Resource>(resource: T): Promise<T> {
    return this.promise(() => this.write(() => this.doUpdate(resource) as T));
  }

  /** See Store.updateStatus. */
  updateStatus<T extends Resource>(resource: T): Promise<T> {
    return this.promise(() => this.write(() => this.doUpdateStatus(resource) as T));
  }

  /** See Store.delete. */
  delete(key: ResourceKey & { resourceVersion?: string }): Promise<void> {
    return this.promise(() => {
      return this.write(() => {
        this.doDelete(key);
      });
    });
  }

  /** See Store.transaction. An error names the op that failed; nothing of the transaction is written. */
  transaction(ops: readonly WriteOp[]): Promise<Resource[]> {
    return this.promise(() => {
      const untrusted: unknown = ops;
      if (!Array.isArray(untrusted))
        throw new MeshcaError('INVALID_INPUT', 'a transaction takes a list of write operations');
      if (ops.length > MAX_TRANSACTION_OPS) {
        throw new MeshcaError(
          'INPUT_TOO_LARGE',
          `a transaction has ${ops.length} operations, at most ${MAX_TRANSACTION_OPS} are allowed: split it`,
        );
      }
      return this.write(() => ops.map((op, i) => this.applyOp(op, i)));
    });
  }

  /** See Store.watch. Invalid options throw at once; a compacted resourceVersion fails the first next() with GONE. */
  watch<T extends Resource>(type: ResourceType, options: WatchOptions = {}): Watch<T> {
    this.ensureOpen();
    checkResourceType(type);
    const namespace = checkNamespaceOption(options.namespace);
    const selector = options.labelSelector === undefined ? [] : parseLabelSelector(options.labelSelector);
    let start: number | MeshcaError;
    if (options.resourceVersion === undefined) {
      start = this.run(() => this.state().revision);
    } else {
      start = parseRevision(options.resourceVersion, 'watch resourceVersion');
    }
    const watch = new SqliteWatch<T>(
      (after) => this.readEvents(type, namespace, selector, after),
      this.hub,
      start,
      (w) => this.watches.delete(w),
    );
    this.watches.add(watch);
    return watch;
  }

  // ---- leases ------------------------------------------------------------------------------

  /** See Store.acquireLease. A holder change (from anyone, or from a released lease) counts one transition. */
  acquireLease(request: LeaseRequest): Promise<Lease | undefined> {
    return this.promise(() => {
      checkLeaseRequest(request);
      const { name, namespace, holderIdentity, leaseDurationMs, now } = request;
      return this.write(() => {
        const row = this.stmt('lease', 'SELECT * FROM leases WHERE namespace = ? AND name = ?').get(
          namespace,
          name,
        ) as LeaseRow | undefined;
        let next: LeaseRow;
        if (row === undefined) {
          next = leaseRow(namespace, name, holderIdentity, now, now, leaseDurationMs, 0);
        } else if (row.holder_identity === holderIdentity) {
          next = { ...row, renew_time: now, lease_duration_ms: leaseDurationMs };
        } else if (row.holder_identity === '' || now >= row.renew_time + row.lease_duration_ms) {
          next = leaseRow(
            namespace,
            name,
            holderIdentity,
            now,
            now,
            leaseDurationMs,
            row.lease_transitions + 1,
          );
        } else {
          return undefined;
        }
        this.stmt(
          'lease-put',
          `INSERT OR REPLACE INTO leases VALUES
           (@namespace, @name, @holder_identity, @acquire_time, @renew_time, @lease_duration_ms, @lease_transitions)`,
        ).run(next);
        return toLease(next);
      });
    });
  }

  /** See Store.releaseLease. */
  releaseLease(name: string, namespace: string, holderIdentity: string): Promise<void> {
    return this.promise(() => {
      checkLeaseKey(name, namespace);
      return this.write(() => {
        this.stmt(
          'lease-release',
          `UPDATE leases SET holder_identity = '' WHERE namespace = ? AND name = ? AND holder_identity = ?`,
        ).run(namespace, name, holderIdentity);
      });
    });
  }

  /** See Store.getLease. */
  getLease(name: string, namespace: string): Promise<Lease | undefined> {
    return this.promise(() => {
      checkLeaseKey(name, namespace);
      const row = this.read(
        () =>
          this.stmt('lease', 'SELECT * FROM leases WHERE namespace = ? AND name = ?').get(namespace, name) as
            LeaseRow | undefined,
      );
      return row === undefined ? undefined : toLease(row);
    });
  }

  // ---- audit log ---------------------------------------------------------------------------

  /** See Store.appendAudit. With auditRetentionMs set, also prunes what fell out of retention. */
  appendAudit(records: readonly AuditRecord[]): Promise<void> {
    return this.promise(() => {
      this.ensureOpen();
      checkAuditBatch(records);
      if (records.length === 0 && this.auditRetentionMs === undefined) return;
      const rows = records.map(auditRow);
      const pruneBefore =
        this.auditRetentionMs === undefined ? undefined : this.clock() - this.auditRetentionMs;
      if (this.auditWriter !== undefined) return this.auditWriter.append(rows, pruneBefore);
      return this.write(() => {
        const insert = this.stmt('audit-insert', AUDIT_INSERT_SQL);
        for (const r of rows) insert.run(r);
        if (pruneBefore !== undefined) this.pruneAuditRows(pruneBefore);
      });
    });
  }

  /** See Store.listAudit. */
  listAudit(query?: AuditQuery): Promise<AuditRecord[]> {
    return this.promise(() => {
      const q = resolveAuditQuery(query);
      const where = [
        q.identity === undefined ? '' : 'identity = @identity',
        q.sinceMs === undefined ? '' : 'issued_at_ms >= @sinceMs',
        q.untilMs === undefined ? '' : 'issued_at_ms < @untilMs',
      ].filter((c) => c !== '');
      // Only fixed fragments go into the SQL; values are bound.
      const sql = `SELECT * FROM audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
                   ORDER BY issued_at_ms DESC, id DESC LIMIT @limit`;
      const params: Record<string, unknown> = { limit: q.limit };
      if (q.identity !== undefined) params.identity = q.identity;
      if (q.sinceMs !== undefined) params.sinceMs = q.sinceMs;
      if (q.untilMs !== undefined) params.untilMs = q.untilMs;
      const rows = this.read(() => this.stmt(`audit-list:${where.join()}`, sql).all(params) as AuditRow[]);
      return rows.map((r) => ({
        serialNumber: r.serial_number,
        identity: r.identity,
        caller: r.caller,
        clusterId: r.cluster_id,
        notBefore: r.not_before,
        notAfter: r.not_after,
        fingerprintSha256: r.fingerprint_sha256,
        issuer: r.issuer,
        issuedAt: r.issued_at,
      }));
    });
  }

  /** See Store.pruneAudit. */
  pruneAudit(before: Date): Promise<number> {
    return this.promise(() => {
      const cutoff = pruneCutoffMs(before);
      return this.write(() => this.pruneAuditRows(cutoff));
    });
  }

  // ---- maintenance -------------------------------------------------------------------------

  /**
   * Drops events outside the retention window (beyond the newest maxEvents, or older than
   * maxAgeMs; `retention` overrides the store's for this call); a watch from before the newest
   * dropped one then fails with GONE. Runs on open and every 100 writes; returns how many went.
   */
  compact(retention: EventRetention = this.retention): number {
    const maxEvents = retention.maxEvents ?? this.retention.maxEvents;
    const maxAgeMs = retention.maxAgeMs ?? this.retention.maxAgeMs;
    return this.run(() =>
      this.db
        .transaction(() => {
          const state = this.state();
          const byAge = this.stmt('events-old', 'SELECT max(revision) FROM events WHERE created_at < ?')
            .pluck()
            .get(this.clock() - maxAgeMs) as number | null;
          const cut = Math.max(state.revision - maxEvents, byAge ?? 0);
          if (cut <= state.compacted_revision) return 0;
          const removed = this.stmt('events-compact', 'DELETE FROM events WHERE revision <= ?').run(
            cut,
          ).changes;
          this.stmt('compacted', 'UPDATE store_state SET compacted_revision = ? WHERE id = 1').run(cut);
          return removed;
        })
        .immediate(),
    );
  }

  /** Runs SQLite's integrity_check; STORE_CORRUPT lists what it found. */
  checkIntegrity(): Promise<void> {
    return this.promise(() => {
      this.ensureOpen();
      const problems = this.db.pragma('integrity_check', { simple: false }) as { integrity_check: string }[];
      const lines = problems.map((p) => p.integrity_check);
      if (lines.length !== 1 || lines[0] !== 'ok') {
        throw new MeshcaError(
          'STORE_CORRUPT',
          `store ${this.file} failed its integrity check: ${lines[0] ?? 'no answer'}; restore it from a backup`,
          { details: lines },
        );
      }
    });
  }

  /** See Store.close. Idempotent. Writes already asked for are committed first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    for (const w of [...this.watches]) w.close();
    this.hub.close();
    await this.auditWriter?.close();
    this.db.close();
  }

  // ---- internals ---------------------------------------------------------------------------

  private applyOp(op: WriteOp, index: number): Resource {
    try {
      switch (op?.op) {
        case 'create':
          return this.doCreate(op.resource);
        case 'update':
          return this.doUpdate(op.resource);
        case 'updateStatus':
          return this.doUpdateStatus(op.resource);
        case 'delete':
          return this.doDelete(op.key);
        default:
          throw new MeshcaError('INVALID_INPUT', `op must be "create", "update", "updateStatus" or "delete"`);
      }
    } catch (err) {
      const e = mapSqliteError(err, this.file, this.busyTimeoutMs);
      throw new MeshcaError(e.code, `transaction op #${index} failed, nothing was written: ${e.message}`, {
        cause: e,
        hint: e.hint,
        details: e.details,
      });
    }
  }

  private doCreate(input: Resource): Resource {
    checkResource(input);
    if (input.metadata.resourceVersion !== undefined && input.metadata.resourceVersion !== '') {
      throw new MeshcaError(
        'INVALID_RESOURCE',
        `metadata.resourceVersion must not be set on create (${keyText(keyOf(input))}): remove it`,
      );
    }
    const key = keyOf(input);
    if (this.find(key) !== undefined) {
      throw new MeshcaError(
        'ALREADY_EXISTS',
        `${keyText(key)} already exists: update it instead, or delete it first`,
      );
    }
    const revision = this.nextRevision();
    const { status: _status, ...rest } = input;
    const created = normalize({
      ...rest,
      metadata: {
        ...input.metadata,
        uid: this.makeUid(),
        resourceVersion: String(revision),
        generation: 1,
        creationTimestamp: rfc3339Seconds(this.clock()),
      },
    });
    this.put(created, revision, 'ADDED', null);
    return created;
  }

  private doUpdate(input: Resource): Resource {
    checkResource(input);
    const { stored } = this.precondition(input);
    const { status: _ignored, ...rest } = input;
    const next = normalize({
      ...rest,
      ...(stored.status === undefined ? {} : { status: stored.status }),
      metadata: {
        ...input.metadata,
        uid: stored.metadata.uid,
        creationTimestamp: stored.metadata.creationTimestamp,
        generation: (stored.metadata.generation ?? 1) + (specOf(input) === specOf(stored) ? 0 : 1),
        resourceVersion: stored.metadata.resourceVersion,
      },
    });
    return this.replace(stored, next);
  }

  private doUpdateStatus(input: Resource): Resource {
    checkResource(input);
    const { stored } = this.precondition(input);
    const { status: _old, ...rest } = stored;
    const next = input.status === undefined ? rest : { ...rest, status: input.status };
    return this.replace(stored, next);
  }

  /** Deletes and returns the last state, stamped with the deletion's resourceVersion. */
  private doDelete(key: ResourceKey & { resourceVersion?: string }): Resource {
    checkResourceKey(key);
    const row = this.find(key);
    if (row === undefined) throw new MeshcaError('NOT_FOUND', `${keyText(key)} not found`);
    if (key.resourceVersion !== undefined) {
      const wanted = parseRevision(key.resourceVersion, 'delete resourceVersion');
      if (wanted !== row.resource_version) throw conflict(key, wanted, row.resource_version);
    }
    const revision = this.nextRevision();
    const last = JSON.parse(row.body) as Resource;
    last.metadata.resourceVersion = String(revision);
    this.stmt(
      'delete',
      'DELETE FROM resources WHERE api_version = ? AND kind = ? AND namespace = ? AND name = ?',
    ).run(key.apiVersion, key.kind, key.namespace ?? '', key.name);
    this.event('DELETED', last, revision, null);
    return last;
  }

  /** Checks update preconditions (exists, resourceVersion and uid match) and returns the stored object. */
  private precondition(input: Resource): { stored: Resource } {
    const key = keyOf(input);
    const row = this.find(key);
    if (row === undefined) throw new MeshcaError('NOT_FOUND', `${keyText(key)} not found: create it first`);
    const stored = JSON.parse(row.body) as Resource;
    const rv = input.metadata.resourceVersion;
    if (rv !== undefined && rv !== '') {
      const wanted = parseRevision(rv, 'metadata.resourceVersion');
      if (wanted !== row.resource_version) throw conflict(key, wanted, row.resource_version);
    }
    const uid = input.metadata.uid;
    if (uid !== undefined && uid !== '' && uid !== stored.metadata.uid) {
      throw new MeshcaError(
        'CONFLICT',
        `${keyText(key)} has uid ${stored.metadata.uid ?? ''}, not ${uid}: it was deleted and created again; read it again`,
      );
    }
    return { stored };
  }

  /** Writes `next` over `stored` with a new revision, unless nothing changed. */
  private replace(stored: Resource, next: Resource): Resource {
    if (withoutVersion(next) === withoutVersion(stored)) return stored;
    const revision = this.nextRevision();
    const written = { ...next, metadata: { ...next.metadata, resourceVersion: String(revision) } };
    this.put(written, revision, 'MODIFIED', JSON.stringify(stored.metadata.labels ?? {}));
    return written;
  }

  private put(
    resource: Resource,
    revision: number,
    type: 'ADDED' | 'MODIFIED',
    prevLabels: string | null,
  ): void {
    const body = JSON.stringify(resource);
    const bytes = Buffer.byteLength(body);
    if (bytes > MAX_RESOURCE_BYTES) tooLarge(bytes);
    const labels = JSON.stringify(resource.metadata.labels ?? {});
    this.stmt(
      'put',
      `INSERT OR REPLACE INTO resources (api_version, kind, namespace, name, resource_version, labels, body)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      resource.apiVersion,
      resource.kind,
      resource.metadata.namespace ?? '',
      resource.metadata.name,
      revision,
      labels,
      body,
    );
    this.event(type, resource, revision, prevLabels, body, labels);
  }

  private event(
    type: WatchEvent['type'],
    resource: Resource,
    revision: number,
    prevLabels: string | null,
    body = JSON.stringify(resource),
    labels = JSON.stringify(resource.metadata.labels ?? {}),
  ): void {
    this.stmt(
      'event',
      `INSERT INTO events (revision, type, api_version, kind, namespace, name, labels, prev_labels, body, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      revision,
      type,
      resource.apiVersion,
      resource.kind,
      resource.metadata.namespace ?? '',
      resource.metadata.name,
      labels,
      prevLabels,
      body,
      this.clock(),
    );
    this.wrote = true;
  }

  private readEvents(
    type: ResourceType,
    namespace: string | undefined,
    selector: LabelSelector,
    after: number,
  ): { events: WatchEvent[]; upTo: number } {
    return this.run(() =>
      this.read(() => {
        const state = this.state();
        if (after < state.compacted_revision) {
          throw new MeshcaError(
            'GONE',
            `watch from resourceVersion ${after} is too old: events up to ${state.compacted_revision} were compacted; list again and watch from the list's resourceVersion`,
          );
        }
        const rows = this.stmt(
          namespace === undefined ? 'events' : 'events-ns',
          `SELECT revision, type, labels, prev_labels, body FROM events
           WHERE api_version = @apiVersion AND kind = @kind AND revision > @after
           ${namespace === undefined ? '' : 'AND namespace = @namespace'}
           ORDER BY revision LIMIT ${WATCH_BATCH}`,
        ).all({
          apiVersion: type.apiVersion,
          kind: type.kind,
          after,
          ...(namespace === undefined ? {} : { namespace }),
        }) as EventRow[];
        const events: WatchEvent[] = [];
        for (const row of rows) {
          const eventType = filterEvent(row, selector);
          if (eventType !== undefined)
            events.push({ type: eventType, object: JSON.parse(row.body) as Resource });
        }
        // Fewer rows than a batch: every matching event up to this snapshot's revision was read,
        // so the watch is caught up to that revision even if none of the events were its own.
        // Moving the cursor there keeps compaction of other types' events from making it GONE.
        // Both reads share one snapshot (one read transaction), so no event is skipped.
        const upTo =
          rows.length < WATCH_BATCH ? Math.max(state.revision, after) : (rows.at(-1)?.revision ?? after);
        return { events, upTo };
      }),
    );
  }

  private pruneAuditRows(cutoffMs: number): number {
    return this.stmt('audit-prune', AUDIT_PRUNE_SQL).run(cutoffMs).changes;
  }

  private find(key: ResourceKey): ResourceRow | undefined {
    checkResourceKey(key);
    return this.stmt(
      'find',
      `SELECT namespace, name, resource_version, labels, body FROM resources
       WHERE api_version = ? AND kind = ? AND namespace = ? AND name = ?`,
    ).get(key.apiVersion, key.kind, key.namespace ?? '', key.name) as ResourceRow | undefined;
  }

  private state(): StateRow {
    return this.stmt(
      'state',
      'SELECT revision, compacted_revision FROM store_state WHERE id = 1',
    ).get() as StateRow;
  }

  private nextRevision(): number {
    const revision = this.state().revision + 1;
    this.stmt('revision', 'UPDATE store_state SET revision = ? WHERE id = 1').run(revision);
    return revision;
  }

  private dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  private stmt(name: string, sql: string): Database.Statement {
    let s = this.statements.get(name);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(name, s);
    }
    return s;
  }

  /**
   * Runs `fn` as its own transaction and resolves once it is committed. Writes asked for in the
   * same turn of the event loop share ONE SQLite transaction (group commit): each runs in a
   * savepoint, so one that throws leaves the others untouched, and all become durable with one
   * commit, one fsync under synchronous=FULL, instead of one each. No write is acknowledged
   * before its commit, so durability is that of a single write.
   */
  private write<R>(fn: () => R): Promise<R> {
    this.ensureOpen();
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every pending write in one IMMEDIATE transaction (the write lock first, so no upgrade deadlock), then wakes watches. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    if (this.closed) {
      for (const w of batch) w.reject(closedError(this.file));
      return;
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    this.wrote = false;
    try {
      this.db
        .transaction(() => {
          for (const w of batch) {
            try {
              // Nested in the group's transaction, better-sqlite3 runs this in a SAVEPOINT.
              outcomes.push({ ok: true, value: this.db.transaction(w.fn)() });
            } catch (err) {
              // SQLite rolls back the whole transaction on some errors (FULL, IOERR, BUSY):
              // then nothing of the group is written and every write of it fails.
              if (!this.db.inTransaction) throw err;
              outcomes.push({ ok: false, error: err });
            }
          }
        })
        .immediate();
    } catch (err) {
      this.wrote = false;
      const error = mapSqliteError(err, this.file, this.busyTimeoutMs);
      for (const w of batch) w.reject(error);
      return;
    }
    if (this.wrote) {
      this.wrote = false;
      this.hub.notify();
      this.writesSinceCompaction += outcomes.filter((o) => o.ok).length;
      if (this.writesSinceCompaction >= COMPACT_EVERY_WRITES) {
        this.writesSinceCompaction = 0;
        try {
          this.compact();
        } catch {
          // Compaction is housekeeping; it runs again after the next writes.
        }
      }
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok === true) w.resolve(outcome.value);
      else w.reject(mapSqliteError(outcome?.error, this.file, this.busyTimeoutMs));
    });
  }

  /** A consistent snapshot for reads of more than one statement. */
  private read<R>(fn: () => R): R {
    return this.run(() => this.db.transaction(fn).deferred());
  }

  private run<R>(fn: () => R): R {
    this.ensureOpen();
    try {
      return fn();
    } catch (err) {
      throw mapSqliteError(err, this.file, this.busyTimeoutMs);
    }
  }

  private promise<R>(fn: () => R): Promise<Awaited<R>> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw closedError(this.file);
  }
}

/** A write waiting for its group commit. */
interface PendingWrite {
  readonly fn: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

function closedError(file: string): MeshcaError {
  return new MeshcaError('STORE_UNAVAILABLE', `store ${file} is closed: open it again`, {
    retryable: false,
  });
}

function keyOf(r: Resource): ResourceKey {
  const key: ResourceKey = { apiVersion: r.apiVersion, kind: r.kind, name: r.metadata.name };
  if (r.metadata.namespace !== undefined && r.metadata.namespace !== '') key.namespace = r.metadata.namespace;
  return key;
}

/** Drops an empty namespace (cluster-scoped) so stored objects have one shape. */
function normalize(r: Resource): Resource {
  if (r.metadata.namespace === '') {
    const { namespace: _ns, ...meta } = r.metadata;
    return { ...r, metadata: meta };
  }
  return r;
}

function conflict(key: ResourceKey, wanted: number, actual: number): MeshcaError {
  return new MeshcaError(
    'CONFLICT',
    `${keyText(key)} was changed by someone else: you have resourceVersion ${wanted}, the store has ${actual}; read it again and retry`,
  );
}

function checkNamespaceOption(namespace: unknown): string | undefined {
  if (namespace === undefined) return undefined;
  const problem = namespaceProblem(namespace);
  if (problem !== undefined) throw new MeshcaError('INVALID_INPUT', `namespace option: ${problem}`);
  return namespace as string;
}

/** The event a label-filtered watch delivers for a row: objects moving in or out of the selection become ADDED or DELETED. */
function filterEvent(row: EventRow, selector: LabelSelector): WatchEvent['type'] | undefined {
  if (selector.length === 0) return row.type;
  const now = matchesLabelSelector(selector, JSON.parse(row.labels) as Record<string, string>);
  if (row.type !== 'MODIFIED' || row.prev_labels === null) return now ? row.type : undefined;
  const before = matchesLabelSelector(selector, JSON.parse(row.prev_labels) as Record<string, string>);
  if (now && before) return 'MODIFIED';
  if (now) return 'ADDED';
  if (before) return 'DELETED';
  return undefined;
}

function leaseRow(
  namespace: string,
  name: string,
  holder: string,
  acquire: number,
  renew: number,
  duration: number,
  transitions: number,
): LeaseRow {
  return {
    namespace,
    name,
    holder_identity: holder,
    acquire_time: acquire,
    renew_time: renew,
    lease_duration_ms: duration,
    lease_transitions: transitions,
  };
}

function toLease(row: LeaseRow): Lease {
  return {
    name: row.name,
    namespace: row.namespace,
    holderIdentity: row.holder_identity,
    acquireTime: row.acquire_time,
    renewTime: row.renew_time,
    leaseDurationMs: row.lease_duration_ms,
    leaseTransitions: row.lease_transitions,
  };
}

/** Creates the file 0600 before SQLite opens it: SQLite gives -wal and -shm the database file's mode. */
function createPrivateFile(file: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  } catch (err) {
    throw new MeshcaError(
      'STORE_UNAVAILABLE',
      `cannot create store file ${file}: ${err instanceof Error ? err.message : String(err)}; check the path and its permissions`,
      { cause: err, retryable: false },
    );
  }
  tightenMode(file);
}

function tightenMode(file: string): void {
  try {
    if (existsSync(file)) chmodSync(file, 0o600);
  } catch {
    // Not our file to change (another owner): SQLite still works; the operator set its mode.
  }
}

function migrate(db: Database.Database, file: string, clock: () => number): void {
  db.transaction(() => {
    const tables = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`)
      .pluck()
      .all() as string[];
    if (tables.length > 0 && !tables.includes('schema_migrations')) {
      throw new MeshcaError(
        'STORE_CORRUPT',
        `${file} is a SQLite database but not a meshca store (it has tables ${tables.slice(0, 5).join(', ')} and no schema_migrations): pass another path`,
      );
    }
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    const applied = db
      .prepare('SELECT version FROM schema_migrations ORDER BY version')
      .pluck()
      .all() as number[];
    const known = MIGRATIONS.at(-1)?.version ?? 0;
    const current = applied.at(-1) ?? 0;
    if (current > known) {
      throw new MeshcaError(
        'SCHEMA_TOO_NEW',
        `store ${file} has schema version ${current} but this meshca knows versions up to ${known}: upgrade meshca (the file was written by a newer one)`,
      );
    }
    if (applied.some((v, i) => v !== i + 1)) {
      throw new MeshcaError(
        'STORE_CORRUPT',
        `store ${file} has schema versions ${applied.join(', ')} with a gap: restore it from a backup`,
      );
    }
    if (applied.length === 0 && tables.some((t) => t !== 'schema_migrations')) {
      throw new MeshcaError(
        'STORE_CORRUPT',
        `store ${file} has tables but no schema version recorded: restore it from a backup`,
      );
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date(clock()).toISOString());
    }
  }).immediate();
}

/** The audit table's row for a record. */
function auditRow(r: AuditRecord): AuditInsertRow {
  return { ...r, issuedAtMs: Date.parse(r.issuedAt) };
}
