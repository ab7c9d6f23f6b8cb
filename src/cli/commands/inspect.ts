import type { Command } from 'commander';
import { MeshcaError } from '../../errors/index.js';
import {
  describeKey,
  parseCertificates,
  parsePrivateKey,
  publicKeysEqual,
  verifyChain,
  type Certificate,
} from '../../pki/index.js';
import type { Resource } from '../../api/resource.js';
import type { CliContext } from '../context.js';
import { colonHex, timeLeft } from '../format.js';
import { defaultNamespace } from '../namespace.js';
import { readFileLimited } from '../read-limited.js';
import { withStore } from '../with-store.js';

const MAX_FILE = 4 * 1024 * 1024;

interface InspectFlags {
  namespace?: string;
  caFile?: string;
}

/** What inspect looks at: certificates, an optional root bundle, an optional key. */
interface Material {
  source: string;
  certs: Certificate[];
  roots: Certificate[];
  keyPem?: string;
}

/** `meshca inspect <pem file | secret/NAME>`: what a certificate says and whether its chain verifies. */
export function registerInspect(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('show certificates of a PEM file or a Secret: subject, SANs, validity, fingerprint, chain verification')
    .argument('<target>', 'a PEM file, or secret/NAME')
    .option('-n, --namespace <ns>', 'namespace of secret/NAME (default $MESHCA_NAMESPACE, else istio-system)')
    .option('--ca-file <file>', 'root certificates to verify the chain against (default: ca.crt of a Secret, or the self-signed certificates of the file)')
    .action(async (target: string, flags: InspectFlags, cmd: Command) => {
      const now = ctx.now();
      let material: Material;
      if (target.startsWith('secret/')) {
        const name = target.slice('secret/'.length);
        const namespace = flags.namespace ?? defaultNamespace(ctx);
        material = await withStore(cmd, ctx, async (store) => {
          const secret = await store.get<Resource>({ apiVersion: 'v1', kind: 'Secret', namespace, name });
          return materialFromSecret(secret, `secret ${namespace}/${name}`);
        });
      } else {
        const text = readTextFile(target, 'the file to inspect', ctx.cwd);
        const certs = parseCertificates(text);
        material = { source: target, certs, roots: certs.filter((c) => c.selfSigned) };
        if (/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(text)) {
          material.keyPem = text;
        }
      }
      if (flags.caFile !== undefined) material.roots = parseCertificates(readTextFile(flags.caFile, '--ca-file', ctx.cwd));
      ctx.stdout.write(renderInspection(material, now));
    });
}

/** Reads a text file named by the user, bounded in size, with a precise error. */
function readTextFile(file: string, what: string, cwd: string): string {
  return readFileLimited(file, { cwd, limit: MAX_FILE, label: `${what} ${file}`, notFileHint: 'give the name of a PEM file' });
}

function materialFromSecret(secret: Resource, source: string): Material {
  const data = (secret['data'] ?? {}) as Record<string, string>;
  const get = (k: string): string | undefined => (data[k] === undefined ? undefined : Buffer.from(data[k], 'base64').toString('utf8'));
  const tlsCrt = get('tls.crt');
  if (tlsCrt === undefined) throw new MeshcaError('CERT_INVALID', `${source} has no tls.crt`);
  const caCrt = get('ca.crt');
  const keyPem = get('tls.key');
  return {
    source,
    certs: parseCertificates(tlsCrt),
    roots: caCrt === undefined ? [] : parseCertificates(caCrt),
    ...(keyPem !== undefined && { keyPem }),
  };
}

/** The report inspect prints. */
export function renderInspection(m: Material, now: Date): string {
  const lines: string[] = [];
  m.certs.forEach((c, i) => {
    const role = i === 0 ? (c.selfSigned ? 'root' : 'certificate') : c.selfSigned ? 'root' : 'chain';
    lines.push(`[${i}] ${role}`);
    lines.push(`  subject:      ${c.subjectString || '(empty)'}`);
    lines.push(`  issuer:       ${c.issuerString || '(empty)'}`);
    lines.push(`  serial:       ${c.serialNumber}`);
    const sans = [
      ...c.sans.uris.map((u) => `URI:${u}`),
      ...c.sans.dnsNames.map((d) => `DNS:${d}`),
      ...c.sans.ipAddresses.map((a) => `IP:${a}`),
      ...c.sans.emailAddresses.map((e) => `email:${e}`),
    ];
    if (sans.length > 0) lines.push(`  SANs:         ${sans.join(', ')}`);
    const k = describeKey(c.publicKey);
    lines.push(`  key:          ${k.algorithm}${k.size === undefined ? '' : ` ${k.size}`}`);
    lines.push(`  not before:   ${c.notBefore.toISOString()}`);
    lines.push(`  not after:    ${c.notAfter.toISOString()} (${timeLeft(c.notAfter, now)})`);
    lines.push(`  CA:           ${c.isCA ? `yes${c.pathLen === undefined ? '' : `, path length ${c.pathLen}`}` : 'no'}`);
    if (c.keyUsages !== undefined) lines.push(`  key usage:    ${c.keyUsages.join(', ')}`);
    if (c.extKeyUsages !== undefined && c.extKeyUsages.length > 0) lines.push(`  ext usage:    ${c.extKeyUsages.join(', ')}`);
    lines.push(`  SHA-256:      ${colonHex(c.fingerprintSha256)}`);
  });
  const leaf = m.certs[0];
  if (leaf === undefined) {
    lines.push(`${m.source}: no certificate found`);
  } else if (m.roots.length === 0) {
    lines.push('chain: not verified (no root to verify against; give --ca-file)');
  } else {
    const verdict = verifyChain(leaf, { intermediates: m.certs.slice(1), roots: m.roots, at: now });
    const path = verdict.chain.map((c) => c.subjectString || c.serialNumber).join(' → ');
    lines.push(verdict.ok ? `chain: OK (${path})` : `chain: FAILED: ${verdict.reason}`);
  }
  if (m.keyPem !== undefined && leaf !== undefined) {
    try {
      const key = parsePrivateKey(m.keyPem);
      lines.push(publicKeysEqual(key, leaf.publicKey) ? 'key: matches the certificate' : 'key: DOES NOT match the certificate');
    } catch (err) {
      lines.push(`key: unreadable (${(err as Error).message})`);
    }
  }
  return lines.join('\n') + '\n';
}
