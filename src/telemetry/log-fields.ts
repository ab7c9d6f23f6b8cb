/**
 * The names of structured log fields, in one place, so that every part logs the same fact under
 * the same name and a query for `identity` finds it everywhere. snake_case, as Prometheus labels.
 */
export const LOG_FIELDS = {
  /** The SPIFFE ID a certificate is issued to. */
  identity: 'identity',
  /** A certificate's serial number, lowercase hex. */
  serial: 'serial',
  /** Who asked: `<auth method>:<subject>@<address>`. */
  caller: 'caller',
  /** The cluster a request came from or a CA serves. */
  clusterId: 'cluster_id',
  /** An issuer reference, `<Kind>/<namespace>/<name>`. */
  issuer: 'issuer',
  /** A resource's namespace. */
  namespace: 'namespace',
  /** A resource's name. */
  name: 'name',
  /** A resource's kind. */
  kind: 'kind',
  /** The component writing the line (ca-server, controller, http …). */
  component: 'component',
  /** A meshca error code from the catalog. */
  errorCode: 'error_code',
  /** The error itself (message, code, cause). */
  error: 'err',
  /** A certificate's SHA-256 fingerprint, lowercase hex. */
  fingerprint: 'fingerprint',
  /** A certificate's notAfter, RFC 3339. */
  notAfter: 'not_after',
  /** A lifetime or duration in seconds. */
  durationSeconds: 'duration_seconds',
  /** An HTTP method. */
  method: 'method',
  /** An HTTP path or gRPC method path. */
  path: 'path',
  /** An HTTP status code or gRPC status name. */
  status: 'status',
  /** A remote address. */
  remoteAddress: 'remote_address',
  /** A listening address. */
  address: 'address',
} as const;

/** One of the standard field names. */
export type LogFieldName = (typeof LOG_FIELDS)[keyof typeof LOG_FIELDS];
