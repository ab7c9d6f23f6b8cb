import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Throwaway TLS material for tests, made by the openssl CLI (independent of src/pki). */
export interface TestTls {
  readonly caCert: string;
  readonly serverKey: string;
  readonly serverCert: string;
  /** A client certificate for spiffe://cluster.local/ns/default/sa/workload, signed by the CA. */
  readonly clientKey: string;
  readonly clientCert: string;
  /** A self-signed client certificate with the same SPIFFE ID: not trusted. */
  readonly untrustedKey: string;
  readonly untrustedCert: string;
}

/** Makes a test CA, a server certificate for localhost/127.0.0.1 and two client certificates. */
export function makeTestTls(): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'meshca-tls-'));
  const ossl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    ossl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=meshca test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    );
    const leaf = (name: string, ext: string): void => {
      writeFileSync(join(dir, `${name}.ext`), ext);
      ossl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=${name}`);
      ossl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
      );
    };
    leaf('server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    leaf(
      'client',
      'subjectAltName=URI:spiffe://cluster.local/ns/default/sa/workload\nextendedKeyUsage=clientAuth\n',
    );
    ossl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'untrusted.key',
      '-out',
      'untrusted.crt',
      '-days',
      '1',
      '-subj',
      '/O=untrusted',
      '-addext',
      'subjectAltName=URI:spiffe://cluster.local/ns/default/sa/workload',
    );
    const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
    return {
      caCert: read('ca.crt'),
      serverKey: read('server.key'),
      serverCert: read('server.crt'),
      clientKey: read('client.key'),
      clientCert: read('client.crt'),
      untrustedKey: read('untrusted.key'),
      untrustedCert: read('untrusted.crt'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
