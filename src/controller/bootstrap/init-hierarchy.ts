import type { KeyObject } from 'node:crypto';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { MeshcaError } from '../../errors/index.js';
import { CaIssuer } from '../../issuers/ca/ca-issuer.js';
import { SelfSignedIssuer } from '../../issuers/self-signed/self-signed-issuer.js';
import {
  buildCsr,
  encodePrivateKey,
  generatePrivateKey,
  parseCertificates,
  parseCsr,
  parsePrivateKey,
  publicKeysEqual,
  verifyChain,
  type Certificate,
  type KeySpec,
} from '../../pki/index.js';
import type { Store, WriteOp } from '../../store/store.js';
import type { CertificateObject } from '../certificates/certificate-resources.js';
import { buildCertificateSecret } from '../certificates/certificate-secret.js';
import { issuedStatus } from '../certificates/issuing-controller.js';

const HOUR_MS = 3_600_000;
/** The root's default lifetime: 30 years (262800h). */
export const DEFAULT_ROOT_DURATION_MS = 262_800 * HOUR_MS;
/** The intermediate's default lifetime: 720h. */
export const DEFAULT_INTERMEDIATE_DURATION_MS = 720 * HOUR_MS;

/** Where the root comes from: made here, imported with its key, or kept outside (only its certificate). */
export type RootSource =
  | { kind: 'generate'; keySpec?: KeySpec }
  | { kind: 'import'; certPem: string; keyPem: string }
  | { kind: 'external'; certPem: string; intermediateCertPem: string; intermediateKeyPem: string };

/** What `meshca init` creates, all names configurable (DESIGN §1). */
export interface HierarchyOptions {
  namespace: string;
  trustDomain: string;
  rootCommonName: string;
  intermediateCommonName: string;
  rootSecretName: string;
  intermediateSecretName: string;
  /** The Certificate resource of the intermediate; also its Secret's default name. */
  intermediateCertificateName: string;
  selfSignedIssuerName: string;
  rootIssuerName: string;
  caIssuerName: string;
  rootDurationMs: number;
  intermediateDurationMs: number;
  intermediateKeySpec: KeySpec;
  root: RootSource;
  backdateMs?: number;
}

/** The defaults of DESIGN §1 for the given trust domain. */
export function defaultHierarchyOptions(trustDomain = 'cluster.local'): HierarchyOptions {
  return {
    namespace: 'istio-system',
    trustDomain,
    rootCommonName: `meshca root CA (${trustDomain})`,
    intermediateCommonName: `istio-intermediate-ca.${trustDomain}`,
    rootSecretName: 'istio-root-ca',
    intermediateSecretName: 'istio-ca',
    intermediateCertificateName: 'istio-ca',
    selfSignedIssuerName: 'meshca-selfsigned',
    rootIssuerName: 'istio-intermediate-ca',
    caIssuerName: 'istio-ca-issuer',
    rootDurationMs: DEFAULT_ROOT_DURATION_MS,
    intermediateDurationMs: DEFAULT_INTERMEDIATE_DURATION_MS,
    intermediateKeySpec: { algorithm: 'ECDSA', size: 256 },
    root: { kind: 'generate' },
  };
}

/** What init did. */
export interface HierarchyResult {
  /** false when everything was already in place (a second run). */
  changed: boolean;
  /** `Kind namespace/name` of each resource created. */
  created: string[];
  root: Certificate;
  intermediate: Certificate;
}

const CM = 'cert-manager.io/v1';
const ORIGIN = 'meshca.io/origin';

/**
 * Creates the CA hierarchy of DESIGN §1 in one store transaction (the Certificates' status
 * included), or finds it in place and changes nothing. Time is injected.
 */
export async function initHierarchy(
  store: Store,
  options: HierarchyOptions,
  now: Date,
): Promise<HierarchyResult> {
  const ns = options.namespace;
  const existing = await findExisting(store, options);
  if (existing !== undefined) return existing;

  const writes: Resource[] = [];
  const backdateMs = options.backdateMs ?? 0;
  let root: Certificate;
  let roots: Certificate[];
  let intermediate: Certificate;
  /** The intermediate first, then any CAs between it and the root. */
  let intermediateChain: readonly Certificate[];
  let intermediateKey: KeyObject;
  let rootKey: KeyObject | undefined;

  if (options.root.kind === 'generate') {
    rootKey = generatePrivateKey(options.root.keySpec ?? { algorithm: 'ECDSA', size: 256 });
    const csr = parseCsr(
      buildCsr({
        key: rootKey,
        subject: { commonName: options.rootCommonName },
        sans: { uris: [`spiffe://${options.trustDomain}`] },
        isCA: true,
      }),
    );
    const signed = await new SelfSignedIssuer({ backdateMs }).sign({
      csr,
      durationMs: options.rootDurationMs,
      isCA: true,
      keyUsages: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      extKeyUsages: [],
      privateKey: rootKey,
      now,
    });
    root = signed.certificate;
    roots = [root];
    writes.push(
      issuerResource(options.selfSignedIssuerName, ns, { selfSigned: {} }, 'generated'),
      certificateResource(options, {
        name: options.rootSecretName,
        secretName: options.rootSecretName,
        commonName: options.rootCommonName,
        durationMs: options.rootDurationMs,
        issuerName: options.selfSignedIssuerName,
        keySpec: options.root.keySpec ?? { algorithm: 'ECDSA', size: 256 },
        certificate: root,
        now,
      }),
    );
  } else if (options.root.kind === 'import') {
    roots = parseCertificates(options.root.certPem);
    root = requireRoot(roots, '--root-cert');
    rootKey = parsePrivateKey(options.root.keyPem);
    if (!publicKeysEqual(rootKey, root.publicKey)) {
      throw new MeshcaError(
        'KEY_MISMATCH',
        'the root key (--root-key) is not the key of the root certificate (--root-cert)',
      );
    }
  } else {
    roots = parseCertificates(options.root.certPem);
    root = requireRoot(roots, '--root-cert');
  }

  if (rootKey !== undefined) {
    const rootPem = root.pem;
    const rootCertificate = writes.find((w) => w.kind === 'Certificate');
    writes.push(
      // A generated root is a Certificate's Secret, written exactly as the issuing controller would.
      rootCertificate !== undefined
        ? issuedSecret(rootCertificate, root, [], roots, rootKey, 'generated')
        : tlsSecret(
            options.rootSecretName,
            ns,
            {
              'tls.crt': rootPem,
              'tls.key': encodePrivateKey(rootKey, 'PKCS8'),
              'ca.crt': roots.map((c) => c.pem).join(''),
            },
            undefined,
            'imported',
          ),
      issuerResource(
        options.rootIssuerName,
        ns,
        { ca: { secretName: options.rootSecretName } },
        options.root.kind === 'generate' ? 'generated' : 'imported',
      ),
    );
    const rootIssuer = CaIssuer.fromKeyPair(
      {
        certChainPem: rootPem,
        keyPem: encodePrivateKey(rootKey, 'PKCS8'),
        caPem: roots.map((c) => c.pem).join(''),
      },
      { source: `secret ${ns}/${options.rootSecretName}`, backdateMs },
    );
    intermediateKey = generatePrivateKey(options.intermediateKeySpec);
    const csr = parseCsr(
      buildCsr({
        key: intermediateKey,
        subject: { commonName: options.intermediateCommonName },
        sans: { uris: [`spiffe://${options.trustDomain}`] },
        isCA: true,
      }),
    );
    const signed = await rootIssuer.sign({
      csr,
      durationMs: options.intermediateDurationMs,
      isCA: true,
      keyUsages: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      extKeyUsages: [],
      now,
    });
    intermediate = signed.certificate;
    intermediateChain = [intermediate, ...signed.chain];
    writes.push(
      certificateResource(options, {
        name: options.intermediateCertificateName,
        secretName: options.intermediateSecretName,
        commonName: options.intermediateCommonName,
        durationMs: options.intermediateDurationMs,
        issuerName: options.rootIssuerName,
        keySpec: options.intermediateKeySpec,
        certificate: intermediate,
        now,
      }),
    );
  } else {
    const external = options.root as Extract<RootSource, { kind: 'external' }>;
    const chain = parseCertificates(external.intermediateCertPem);
    const first = chain[0];
    if (first === undefined) {
      throw new MeshcaError('CERT_INVALID', '--intermediate-cert holds no certificate');
    }
    intermediate = first;
    intermediateKey = parsePrivateKey(external.intermediateKeyPem);
    if (!publicKeysEqual(intermediateKey, intermediate.publicKey)) {
      throw new MeshcaError(
        'KEY_MISMATCH',
        'the intermediate key (--intermediate-key) is not the key of the intermediate certificate (--intermediate-cert)',
      );
    }
    const verdict = verifyChain(intermediate, { intermediates: chain.slice(1), roots, at: now });
    if (!verdict.ok) {
      throw new MeshcaError(
        'CHAIN_INVALID',
        `the intermediate does not chain to the root: ${verdict.reason}`,
        {
          hint: '--intermediate-cert must be signed by a certificate of --root-cert (add any middle CAs after it in the same file)',
        },
      );
    }
    if (!intermediate.isCA) {
      throw new MeshcaError(
        'CERT_INVALID',
        `--intermediate-cert "${intermediate.subjectString}" is not a CA certificate`,
      );
    }
    intermediateChain = chain.filter((c) => !c.selfSigned);
  }

  const intermediateCertificate = writes.find(
    (w) =>
      w.kind === 'Certificate' &&
      w.metadata.name === options.intermediateCertificateName &&
      rootKey !== undefined,
  );
  writes.push(
    intermediateCertificate !== undefined
      ? issuedSecret(
          intermediateCertificate,
          intermediate,
          intermediateChain.slice(1),
          roots,
          intermediateKey,
          'generated',
        )
      : tlsSecret(
          options.intermediateSecretName,
          ns,
          {
            'tls.crt': intermediateChain.map((c) => c.pem).join(''),
            'tls.key': encodePrivateKey(intermediateKey, 'PKCS8'),
            'ca.crt': roots.map((c) => c.pem).join(''),
          },
          undefined,
          'imported',
        ),
    issuerResource(
      options.caIssuerName,
      ns,
      { ca: { secretName: options.intermediateSecretName } },
      rootKey !== undefined ? 'generated' : 'imported',
    ),
  );

  // One transaction, statuses included: status is written apart from spec, as the API server
  // would have it, but in the same atomic step, so a failure leaves nothing half made (a rerun
  // would otherwise find the hierarchy "already initialized" with Certificates lacking status).
  // updateStatus without a resourceVersion sees the create before it (Store.transaction).
  const ops: WriteOp[] = writes.map((resource) => ({ op: 'create', resource }));
  for (const w of writes) {
    if (w.kind === 'Certificate' && w['status'] !== undefined) ops.push({ op: 'updateStatus', resource: w });
  }
  await store.transaction(ops);
  return {
    changed: true,
    created: writes.map((w) => `${w.kind} ${ns}/${w.metadata.name}`),
    root,
    intermediate,
  };
}

/** Returns the existing hierarchy when init already ran with these names, or undefined when none of it exists. */
async function findExisting(store: Store, options: HierarchyOptions): Promise<HierarchyResult | undefined> {
  const ns = options.namespace;
  const keys: ResourceKey[] = [
    { apiVersion: 'v1', kind: 'Secret', namespace: ns, name: options.intermediateSecretName },
    { apiVersion: CM, kind: 'Issuer', namespace: ns, name: options.caIssuerName },
  ];
  const found = await Promise.all(keys.map((k) => store.tryGet(k)));
  if (found.every((f) => f === undefined)) return undefined;
  const [secret, issuer] = found;
  if (secret === undefined || issuer === undefined) {
    const present = keys.filter((_, i) => found[i] !== undefined).map((k) => `${k.kind} ${ns}/${k.name}`);
    throw new MeshcaError(
      'ALREADY_INITIALIZED',
      `part of a CA hierarchy is already in place (${present.join(', ')})`,
      {
        hint: 'delete those resources, or choose other names with the init flags',
      },
    );
  }
  const data = (secret['data'] ?? {}) as Record<string, string>;
  const chain = parseCertificates(Buffer.from(data['tls.crt'] ?? '', 'base64').toString('utf8'));
  const roots = parseCertificates(Buffer.from(data['ca.crt'] ?? '', 'base64').toString('utf8'));
  const intermediate = chain[0];
  const root = roots[0];
  if (intermediate === undefined || root === undefined) {
    throw new MeshcaError(
      'ALREADY_INITIALIZED',
      `secret ${ns}/${options.intermediateSecretName} exists but holds no CA chain`,
      {
        hint: 'delete it to let meshca init create the hierarchy again',
      },
    );
  }
  if (options.root.kind !== 'generate') {
    const asked = parseCertificates(options.root.certPem)[0];
    if (asked !== undefined && !roots.some((r) => r.fingerprintSha256 === asked.fingerprintSha256)) {
      throw new MeshcaError(
        'ALREADY_INITIALIZED',
        'a CA hierarchy with a different root is already in place; nothing was changed',
        {
          hint: 'root rotation replaces a root without downtime; init never overwrites one',
        },
      );
    }
  }
  return { changed: false, created: [], root, intermediate };
}

function requireRoot(roots: Certificate[], flag: string): Certificate {
  const root = roots[0];
  if (root === undefined) throw new MeshcaError('CERT_INVALID', `${flag} holds no certificate`);
  if (!root.isCA)
    throw new MeshcaError('CERT_INVALID', `${flag} "${root.subjectString}" is not a CA certificate`);
  if (!root.selfSigned) {
    throw new MeshcaError(
      'CERT_INVALID',
      `${flag} "${root.subjectString}" is not self-signed, so it is not a root`,
      {
        hint: 'pass the root as --root-cert and this certificate as --intermediate-cert with its --intermediate-key',
      },
    );
  }
  return root;
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function tlsSecret(
  name: string,
  namespace: string,
  data: Record<string, string>,
  certificateName: string | undefined,
  origin: string,
): Resource {
  const annotations: Record<string, string> = { [ORIGIN]: origin };
  if (certificateName !== undefined) annotations['cert-manager.io/certificate-name'] = certificateName;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, annotations },
    type: 'kubernetes.io/tls',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

function issuerResource(
  name: string,
  namespace: string,
  spec: Record<string, unknown>,
  origin: string,
): Resource {
  return {
    apiVersion: CM,
    kind: 'Issuer',
    metadata: { name, namespace, annotations: { [ORIGIN]: origin } },
    spec,
  };
}

function goHours(ms: number): string {
  return `${Math.round(ms / HOUR_MS)}h`;
}

function certificateResource(
  options: HierarchyOptions,
  c: {
    name: string;
    secretName: string;
    commonName: string;
    durationMs: number;
    issuerName: string;
    keySpec: KeySpec;
    certificate: Certificate;
    now: Date;
  },
): Resource {
  const privateKey: Record<string, unknown> = {
    algorithm: c.keySpec.algorithm,
    rotationPolicy: 'Always',
    encoding: 'PKCS8',
  };
  if (c.keySpec.size !== undefined) privateKey['size'] = c.keySpec.size;
  const resource = {
    apiVersion: CM,
    kind: 'Certificate',
    metadata: {
      name: c.name,
      namespace: options.namespace,
      annotations: { [ORIGIN]: 'generated', 'meshca.io/trust-domain': options.trustDomain },
    },
    spec: {
      isCA: true,
      commonName: c.commonName,
      uris: [`spiffe://${options.trustDomain}`],
      duration: goHours(c.durationMs),
      secretName: c.secretName,
      privateKey,
      usages: ['digital signature', 'cert sign', 'crl sign'],
      issuerRef: { name: c.issuerName, kind: 'Issuer', group: 'cert-manager.io' },
    },
  } as Resource;
  // The status the issuing controller writes for revision 1, so the trigger sees nothing to do.
  resource['status'] = issuedStatus(resource as CertificateObject, c.certificate, 1, c.now);
  return resource;
}

/** The Secret of an issued Certificate, built by the issuing controller's function, marked as init's. */
function issuedSecret(
  certificate: Resource,
  leaf: Certificate,
  chain: readonly Certificate[],
  roots: readonly Certificate[],
  key: KeyObject,
  origin: string,
): Resource {
  const secret = buildCertificateSecret({
    certificate: certificate as CertificateObject,
    leaf,
    chain,
    ca: roots,
    key,
  });
  secret.metadata.annotations = { ...secret.metadata.annotations, [ORIGIN]: origin };
  return secret;
}
