import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './pebble.js';

/** A running BIND 9 serving one zone that accepts TSIG-signed TXT updates. */
export interface Bind {
  readonly nameserver: string;
  readonly zone: string;
  readonly keyName: string;
  /** The TSIG secret, base64, as BIND's key statement holds it. */
  readonly secret: string;
  stop(): Promise<void>;
}

/** Starts `named` in the foreground on a loopback port with a fresh zone and key. */
export async function startBind(zone = 'example.test'): Promise<Bind> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshca-bind-'));
  const port = await freePort();
  const keyName = 'meshca-update';
  const secret = randomBytes(32).toString('base64');
  writeFileSync(
    path.join(dir, 'zone.db'),
    `$TTL 60\n@ IN SOA ns.${zone}. admin.${zone}. 1 60 60 600 60\n@ IN NS ns.${zone}.\nns IN A 127.0.0.1\n@ IN A 127.0.0.1\n`,
  );
  writeFileSync(
    path.join(dir, 'named.conf'),
    `options { directory "${dir}"; pid-file "${dir}/named.pid"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; dnssec-validation no; };
key "${keyName}" { algorithm hmac-sha256; secret "${secret}"; };
controls { };
zone "${zone}" { type primary; file "${dir}/zone.db"; update-policy { grant ${keyName} zonesub TXT; }; };
`,
  );
  let output = '';
  const child: ChildProcess = spawn('named', ['-g', '-c', path.join(dir, 'named.conf')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  for (let i = 0; i < 100 && !output.includes('running'); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!output.includes('running')) throw new Error(`named did not start:\n${output}`);
  return {
    nameserver: `127.0.0.1:${port}`,
    zone,
    keyName,
    secret,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
