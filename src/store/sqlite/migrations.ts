/** One step of the SQLite schema; applied in order, each exactly once, recorded in schema_migrations. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * Every schema version this code knows, oldest first. Never edit a released migration: add one.
 * A file whose highest applied version is above the last one here is refused (SCHEMA_TOO_NEW).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'resources, events, leases, audit log',
    sql: `
      -- The revision counter is global (like etcd's): every write takes the next value and it
      -- never goes back, even when events are compacted away.
      CREATE TABLE store_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        revision INTEGER NOT NULL,
        compacted_revision INTEGER NOT NULL
      );
      INSERT INTO store_state (id, revision, compacted_revision) VALUES (1, 0, 0);

      CREATE TABLE resources (
        api_version TEXT NOT NULL,
        kind TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        resource_version INTEGER NOT NULL,
        labels TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (api_version, kind, namespace, name)
      ) WITHOUT ROWID;

      -- Append-only change log, written in the same transaction as the change, read by watches.
      CREATE TABLE events (
        revision INTEGER PRIMARY KEY,
        type TEXT NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
        api_version TEXT NOT NULL,
        kind TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        prev_labels TEXT,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX events_by_type ON events (api_version, kind, revision);
      CREATE INDEX events_by_time ON events (created_at);

      CREATE TABLE leases (
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        holder_identity TEXT NOT NULL,
        acquire_time INTEGER NOT NULL,
        renew_time INTEGER NOT NULL,
        lease_duration_ms INTEGER NOT NULL,
        lease_transitions INTEGER NOT NULL,
        PRIMARY KEY (namespace, name)
      ) WITHOUT ROWID;

      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        serial_number TEXT NOT NULL,
        identity TEXT NOT NULL,
        caller TEXT NOT NULL,
        cluster_id TEXT NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        fingerprint_sha256 TEXT NOT NULL,
        issuer TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        issued_at_ms INTEGER NOT NULL
      );
      CREATE INDEX audit_by_identity ON audit (identity, issued_at_ms);
      CREATE INDEX audit_by_time ON audit (issued_at_ms);
    `,
  },
];
