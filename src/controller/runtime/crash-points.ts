import type { Resource } from '../../api/resource.js';
import { MeshcaError } from '../../errors/index.js';
import type { Store, WriteOp } from '../../store/store.js';

/**
 * Named instants of an issuance at which a crash test kills the process, recognised by the
 * store writes the lifecycle controllers make (so the hook needs no code in the controllers).
 */
export const CRASH_POINTS = {
  /** After the write that first stores a private key (a Secret without a certificate). */
  'after-key': {
    when: 'after',
    matches: (op: WriteOp) => isCreate(op, 'Secret') && !hasCertificate(op.resource),
  },
  /** After the write that creates a CertificateRequest. */
  'after-request': { when: 'after', matches: (op: WriteOp) => isCreate(op, 'CertificateRequest') },
  /** After the write that marks a CertificateRequest Approved. */
  'after-approve': {
    when: 'after',
    matches: (op: WriteOp) =>
      isStatus(op, 'CertificateRequest') &&
      hasCondition(op.resource, 'Approved') &&
      !hasSignedCertificate(op.resource),
  },
  /** After the write that stores a signed certificate on a CertificateRequest. */
  'after-sign': {
    when: 'after',
    matches: (op: WriteOp) => isStatus(op, 'CertificateRequest') && hasSignedCertificate(op.resource),
  },
  /** Just before the write of the issued Secret (tls.crt) commits. */
  'before-issue-commit': {
    when: 'before',
    matches: (op: WriteOp) => writesSecret(op) && hasCertificate(op.resource),
  },
  /** Just after the write of the issued Secret commits. */
  'after-issue-commit': {
    when: 'after',
    matches: (op: WriteOp) => writesSecret(op) && hasCertificate(op.resource),
  },
} as const satisfies Record<string, { when: 'before' | 'after'; matches: (op: WriteOp) => boolean }>;

/** A crash point's name. */
export type CrashPointName = keyof typeof CRASH_POINTS;

type ResourceOp = Extract<WriteOp, { resource: Resource }>;

function isCreate(op: WriteOp, kind: string): op is ResourceOp {
  return op.op === 'create' && op.resource.kind === kind;
}

function isStatus(op: WriteOp, kind: string): op is ResourceOp {
  return op.op === 'updateStatus' && op.resource.kind === kind;
}

function writesSecret(op: WriteOp): op is ResourceOp {
  return (op.op === 'create' || op.op === 'update') && op.resource.kind === 'Secret';
}

function hasCertificate(r: Resource): boolean {
  const data = r.data as Record<string, unknown> | undefined;
  return typeof data?.['tls.crt'] === 'string' && data['tls.crt'] !== '';
}

function hasSignedCertificate(r: Resource): boolean {
  const status = r.status as { certificate?: unknown } | undefined;
  return typeof status?.certificate === 'string' && status.certificate !== '';
}

function hasCondition(r: Resource, type: string): boolean {
  const status = r.status as { conditions?: { type?: unknown; status?: unknown }[] } | undefined;
  return status?.conditions?.some((c) => c.type === type && c.status === 'True') === true;
}

/**
 * Parses `MESHCA_CRASH_AT`: `<point>` or `<point>:<n>` (crash at the n-th match, default the
 * first). Unknown names are an error, so a typo cannot make a crash test pass vacuously.
 */
export function parseCrashPoint(text: string): { point: CrashPointName; occurrence: number } {
  const m = /^([a-z-]+)(?::([1-9][0-9]{0,5}))?$/.exec(text);
  const point = m?.[1];
  if (m === null || point === undefined || !Object.hasOwn(CRASH_POINTS, point)) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `MESHCA_CRASH_AT=${JSON.stringify(text.slice(0, 64))} names no crash point`,
      {
        hint: `use one of ${Object.keys(CRASH_POINTS).join(', ')}, optionally with :N for the N-th occurrence`,
      },
    );
  }
  return { point: point as CrashPointName, occurrence: m[2] === undefined ? 1 : Number(m[2]) };
}

/**
 * The store, except that the matching write of the named crash point calls `crash` (in the
 * program: SIGKILL to itself) before or after it commits. For crash tests only; wired by the
 * composition root when MESHCA_CRASH_AT is set.
 */
export function withCrashPoint(store: Store, spec: string, crash: (point: string) => void): Store {
  const { point, occurrence } = parseCrashPoint(spec);
  const { when, matches } = CRASH_POINTS[point];
  let seen = 0;
  const hit = (ops: readonly WriteOp[]): boolean => ops.some((op) => matches(op)) && ++seen === occurrence;
  const guarded = async <T>(ops: readonly WriteOp[], write: () => Promise<T>): Promise<T> => {
    const fire = hit(ops);
    if (fire && when === 'before') crash(point);
    const result = await write();
    if (fire && when === 'after') crash(point);
    return result;
  };
  const wrapper: Partial<Store> = {
    create: (r) => guarded([{ op: 'create', resource: r }], () => store.create(r)),
    update: (r) => guarded([{ op: 'update', resource: r }], () => store.update(r)),
    updateStatus: (r) => guarded([{ op: 'updateStatus', resource: r }], () => store.updateStatus(r)),
    transaction: (ops) => guarded(ops, () => store.transaction(ops)),
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && Object.hasOwn(wrapper, prop)) return wrapper[prop as keyof Store];
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
