import type { Command } from 'commander';
import {
  defaultHierarchyOptions,
  initHierarchy,
  type HierarchyOptions,
  type RootSource,
} from '../../controller/bootstrap/init-hierarchy.js';
import { describeKey, formatDistinguishedName, type KeySpec } from '../../pki/index.js';
import type { CliContext } from '../context.js';
import { parseDurationFlag, parseKeyAlgorithmFlag } from '../flags.js';
import { formatByteLimit, readFileLimited } from '../read-limited.js';
import { withStore } from '../with-store.js';
import { usageError } from '../usage-error.js';

interface InitFlags {
  namespace: string;
  trustDomain: string;
  rootCn?: string;
  intermediateCn?: string;
  rootKeyAlgorithm: string;
  intermediateKeyAlgorithm: string;
  rootDuration: string;
  intermediateDuration: string;
  rootSecret: string;
  intermediateSecret: string;
  rootIssuer: string;
  caIssuer: string;
  selfSignedIssuer: string;
  rootCert?: string;
  rootKey?: string;
  intermediateCert?: string;
  intermediateKey?: string;
}

/** Most bytes of a PEM file given to a flag; a certificate chain or a key is far smaller. */
const MAX_PEM_FILE_BYTES = 1024 * 1024;

/** Reads a PEM file named by a flag, bounded, with an error naming the flag. */
function readPemFlag(flag: string, file: string, cwd: string): string {
  return readFileLimited(file, {
    cwd,
    limit: MAX_PEM_FILE_BYTES,
    label: `${flag} ${file}`,
    limitRule: `a PEM file may be at most ${formatByteLimit(MAX_PEM_FILE_BYTES)}`,
    notFileHint: `give ${flag} the name of a PEM file`,
  });
}

/** `meshca init`: creates the CA hierarchy of DESIGN §1, or says it is already in place. */
export function registerInit(program: Command, ctx: CliContext): void {
  const d = defaultHierarchyOptions();
  program
    .command('init')
    .description('create the CA hierarchy: root → intermediate "istio-ca" → issuer "istio-ca-issuer" (idempotent)')
    .option('-n, --namespace <ns>', 'namespace of the CA resources', d.namespace)
    .option('--trust-domain <domain>', 'SPIFFE trust domain', d.trustDomain)
    .option('--root-cn <name>', 'common name of a generated root (default "meshca root CA (<trust-domain>)")')
    .option('--intermediate-cn <name>', 'common name of the intermediate (default "istio-intermediate-ca.<trust-domain>")')
    .option('--root-key-algorithm <alg>', 'key of a generated root: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519', 'ecdsa-p256')
    .option('--intermediate-key-algorithm <alg>', 'key of the intermediate (same choices)', 'ecdsa-p256')
    .option('--root-duration <duration>', 'lifetime of a generated root (Go duration)', '262800h')
    .option('--intermediate-duration <duration>', 'lifetime of the intermediate (Go duration)', '720h')
    .option('--root-secret <name>', 'Secret holding the root', d.rootSecretName)
    .option('--intermediate-secret <name>', 'Secret (and Certificate) holding the intermediate', d.intermediateSecretName)
    .option('--root-issuer <name>', 'Issuer backed by the root', d.rootIssuerName)
    .option('--ca-issuer <name>', 'Issuer backed by the intermediate, used to sign workloads', d.caIssuerName)
    .option('--self-signed-issuer <name>', 'selfSigned Issuer of a generated root', d.selfSignedIssuerName)
    .option('--root-cert <file>', 'import this root certificate instead of generating one')
    .option('--root-key <file>', 'the imported root\'s private key')
    .option('--intermediate-cert <file>', 'an intermediate made elsewhere (with --root-cert; keeps the root key out of meshca)')
    .option('--intermediate-key <file>', 'the private key of --intermediate-cert')
    .action(async (flags: InitFlags, cmd: Command) => {
      const options = hierarchyFromFlags(flags, ctx.cwd);
      await withStore(cmd, ctx, async (store) => {
        const result = await initHierarchy(store, options, ctx.now());
        const out = ctx.stdout;
        if (!result.changed) {
          out.write(`meshca is already initialized in namespace ${options.namespace}; nothing changed.\n`);
        } else {
          out.write(`created the CA hierarchy in namespace ${options.namespace}:\n`);
          for (const line of result.created) out.write(`  ${line}\n`);
        }
        const spec = describeKey(result.root.publicKey);
        out.write(
          `root:         ${formatDistinguishedName(result.root.subject)} (${spec.algorithm}${spec.size === undefined ? '' : ` ${spec.size}`}), ` +
            `valid until ${result.root.notAfter.toISOString()}\n`,
        );
        out.write(
          `intermediate: ${formatDistinguishedName(result.intermediate.subject)}, valid until ${result.intermediate.notAfter.toISOString()}\n`,
        );
        out.write(`workloads are signed by Issuer ${options.namespace}/${options.caIssuerName}\n`);
      }, { create: true });
    });
}

/** Turns the flags into hierarchy options, rejecting contradictory combinations (exit 2). */
export function hierarchyFromFlags(flags: InitFlags, cwd: string): HierarchyOptions {
  const read = (flag: string, file: string): string => readPemFlag(flag, file, cwd);
  const base = defaultHierarchyOptions(flags.trustDomain);
  let root: RootSource;
  const rootKeySpec: KeySpec = parseKeyAlgorithmFlag('--root-key-algorithm', flags.rootKeyAlgorithm);
  if (flags.rootCert === undefined) {
    if (flags.rootKey !== undefined || flags.intermediateCert !== undefined || flags.intermediateKey !== undefined) {
      throw usageError('--root-key, --intermediate-cert and --intermediate-key need --root-cert');
    }
    root = { kind: 'generate', keySpec: rootKeySpec };
  } else if (flags.rootKey !== undefined) {
    if (flags.intermediateCert !== undefined || flags.intermediateKey !== undefined) {
      throw usageError('give either --root-key or --intermediate-cert with --intermediate-key, not both');
    }
    root = { kind: 'import', certPem: read('--root-cert', flags.rootCert), keyPem: read('--root-key', flags.rootKey) };
  } else {
    if (flags.intermediateCert === undefined || flags.intermediateKey === undefined) {
      throw usageError('--root-cert needs either --root-key, or --intermediate-cert with --intermediate-key');
    }
    root = {
      kind: 'external',
      certPem: read('--root-cert', flags.rootCert),
      intermediateCertPem: read('--intermediate-cert', flags.intermediateCert),
      intermediateKeyPem: read('--intermediate-key', flags.intermediateKey),
    };
  }
  return {
    ...base,
    namespace: flags.namespace,
    ...(flags.rootCn !== undefined && { rootCommonName: flags.rootCn }),
    ...(flags.intermediateCn !== undefined && { intermediateCommonName: flags.intermediateCn }),
    rootSecretName: flags.rootSecret,
    intermediateSecretName: flags.intermediateSecret,
    intermediateCertificateName: flags.intermediateSecret,
    rootIssuerName: flags.rootIssuer,
    caIssuerName: flags.caIssuer,
    selfSignedIssuerName: flags.selfSignedIssuer,
    rootDurationMs: parseDurationFlag('--root-duration', flags.rootDuration),
    intermediateDurationMs: parseDurationFlag('--intermediate-duration', flags.intermediateDuration),
    intermediateKeySpec: parseKeyAlgorithmFlag('--intermediate-key-algorithm', flags.intermediateKeyAlgorithm),
    root,
  };
}
