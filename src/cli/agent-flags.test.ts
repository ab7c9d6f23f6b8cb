import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentFixture } from '../agent/testing/agent-fixture.js';
import { isMeshcaError } from '../errors/index.js';
import { agentConfigFromFlags } from './commands/agent.js';
import type { CliContext } from './context.js';
import { runCli } from './run-cli.js';

let fx: AgentFixture;
beforeEach(() => {
  fx = new AgentFixture();
});
afterEach(() => fx.cleanup());

// Nothing listens on port 1: a run that got as far as calling the CA would fail with ECONNREFUSED.
const base = (): string[] => [
  '--ca-address', '127.0.0.1:1',
  '--root-cert', 'root.pem',
  '--token-file', 'token',
  '--namespace', 'default',
  '--service-account', 'sleep',
  '--out', 'out',
];

async function agent(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: fx.dir,
    now: () => new Date('2026-11-22T12:00:00Z'),
    version: '0.0.0-test',
    openStore: () => Promise.reject(new Error('the agent needs no store')),
  };
  const code = await runCli(['agent', ...args], ctx);
  return { code, stdout, stderr };
}

const flags = (over: Record<string, string> = {}) => ({
  caAddress: '127.0.0.1:1',
  rootCert: 'root.pem',
  tokenFile: 'token',
  namespace: 'default',
  serviceAccount: 'sleep',
  out: 'out',
  trustDomain: 'cluster.local',
  keyType: 'ec-p256',
  gracePeriodRatio: '0.5',
  clusterId: 'Kubernetes',
  requestedLifetime: '24h',
  ...over,
});

describe('meshca agent --key-type', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])('refuses %s, a name on Object.prototype, as an unknown key type', (keyType) => {
    try {
      agentConfigFromFlags(flags({ keyType }), fx.dir);
      expect.unreachable();
    } catch (err) {
      expect(isMeshcaError(err, 'USAGE')).toBe(true);
      expect((err as Error).message).toBe(`--key-type: unknown key type ${JSON.stringify(keyType)}`);
    }
  });

  it('exits 2 with a usage error for --key-type constructor', async () => {
    const run = await agent(...base(), '--once', '--key-type', 'constructor');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('error: --key-type: unknown key type "constructor"\nhint: choose one of: ec-p256, rsa-2048\n');
  });

  it.each([
    ['ec-p256', { algorithm: 'ECDSA', size: 256 }],
    ['rsa-2048', { algorithm: 'RSA', size: 2048 }],
  ])('maps %s to its key spec', (keyType, keySpec) => {
    expect(agentConfigFromFlags(flags({ keyType }), fx.dir).keySpec).toEqual(keySpec);
  });
});

describe('meshca agent --ca-address, --metrics-address and --ca-server-name', () => {
  it.each([
    ['--ca-address', '[1.2.3.4]:80', '"1.2.3.4" in brackets is not an IPv6 address (write an IPv4 address without brackets)'],
    ['--ca-address', '[:::::]:1', '":::::" in brackets is not an IPv6 address'],
    ['--ca-address', '1.2.3.4.5:80', 'the host "1.2.3.4.5" is not an IPv4 address'],
    ['--ca-address', 'istiod..svc:15012', 'the host "istiod..svc" is not a DNS name: it has an empty label (a dot at the start or end, or two in a row)'],
    ['--metrics-address', '[127.0.0.1]:15014', '"127.0.0.1" in brackets is not an IPv6 address'],
  ])('refuses %s %s with exit 2 and says what is wrong', async (flag, value, problem) => {
    const run = await agent(...base(), '--once', flag, value);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: ${flag} must be HOST:PORT, got ${JSON.stringify(value)}: ${problem}`);
  });

  it.each(['-', '...', 'a_b.example', '1.2.3.4.5'])('refuses --ca-server-name %s with exit 2', async (name) => {
    const run = await agent(...base(), '--once', '--ca-server-name', name);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^error: --ca-server-name must be a DNS name or an IPv4 address, got ${JSON.stringify(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  });
});

describe('meshca agent --grace-period-ratio', () => {
  it.each(['0.01', '0.015', '0.99', '0.985', '0', '1', '1.5', 'half', '-0.5', '1e-1'])('refuses %s with exit 2, naming the range', async (ratio) => {
    const run = await agent(...base(), '--once', '--grace-period-ratio', ratio);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: --grace-period-ratio must be a number from 0.02 to 0.98, got ${JSON.stringify(ratio)}\n`);
  });

  it.each([['0.02', 0.02], ['0.5', 0.5], ['.25', 0.25], ['0.98', 0.98]])('accepts %s', (ratio, value) => {
    expect(agentConfigFromFlags(flags({ gracePeriodRatio: ratio }), fx.dir).gracePeriodRatio).toBe(value);
  });
});

describe('meshca agent checks --out at start', () => {
  it('fails with exit 1 before calling the CA when --out is a file', async () => {
    writeFileSync(path.join(fx.dir, 'out'), 'not a folder\n');
    const run = await agent(...base(), '--once');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: --out ${path.join(fx.dir, 'out')} exists and is not a folder\n` +
        'hint: give --out a folder (it is made when missing); the agent keeps three files and their versions in it\n',
    );
  });

  it('fails with exit 1 when a part of the --out path is a file', async () => {
    writeFileSync(path.join(fx.dir, 'file'), 'x');
    const run = await agent(...base(), '--once', '--out', 'file/certs');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: --out .*file\/certs cannot be a folder: a part of its path is a file \(ENOTDIR\)$/m);
  });

  it('fails with exit 1 when --out is a dangling symbolic link', async () => {
    symlinkSync(path.join(fx.dir, 'gone'), path.join(fx.dir, 'out'));
    const run = await agent(...base(), '--once');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: --out .*out is a symbolic link to nothing$/m);
  });

  // Root may write anywhere a mode bit forbids (access() says yes), so as root the tests use
  // /proc/sys, which the kernel refuses to root too; as another user, a folder of mode 0555.
  const asRoot = process.getuid?.() === 0;
  /** A folder the agent may not write in, and a cleanup. */
  const unwritable = (name: string): { dir: string; cleanup: () => void } => {
    if (asRoot) return { dir: '/proc/sys', cleanup: () => undefined };
    const dir = path.join(fx.dir, name);
    mkdirSync(dir, { mode: 0o555 });
    return { dir, cleanup: () => chmodSync(dir, 0o755) };
  };
  const escaped = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

  it('fails with exit 1 when the agent may not write in --out', async () => {
    const { dir, cleanup } = unwritable('out');
    try {
      const run = await agent(...base(), '--once', '--out', dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        new RegExp(`^error: the agent may not write in --out ${escaped(dir)} \\((EACCES|EROFS|EPERM)\\)$`, 'm'),
      );
    } finally {
      cleanup();
    }
  });

  it('fails with exit 1 when a missing --out cannot be created in its parent', async () => {
    const { dir, cleanup } = unwritable('ro');
    try {
      const run = await agent(...base(), '--once', '--out', path.join(dir, 'meshca-a', 'b'));
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        new RegExp(
          `^error: cannot create --out ${escaped(path.join(dir, 'meshca-a', 'b'))}: the agent may not write in ${escaped(dir)} \\((EACCES|EROFS|EPERM)\\)$`,
          'm',
        ),
      );
    } finally {
      cleanup();
    }
  });
});

describe('meshca agent checks --token-file at start', () => {
  it('warns at start when the token file is missing, and goes on (a projected token may appear later)', async () => {
    rmSync(fx.tokenFile);
    const run = await agent(...base(), '--once');
    const lines = run.stderr.split('\n');
    const first = JSON.parse(lines[0] ?? '') as { level: string; msg: string };
    expect(first.level).toBe('warn');
    expect(first.msg).toBe(
      `at start: cannot read the token file ${fx.tokenFile}: ENOENT; it is read again before every request, so a token that appears later is used`,
    );
    // --once then makes its one request, which needs the token: that is the error.
    expect(lines[1]).toBe(`error: cannot read the token file ${fx.tokenFile}: ENOENT`);
    expect(run.code).toBe(1);
  });

  it('fails with exit 1 at start when the token file is a folder, which no token rotation mends', async () => {
    rmSync(fx.tokenFile);
    mkdirSync(fx.tokenFile);
    const run = await agent(...base(), '--once');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: the token file .*token is a folder, not a file$/m);
    expect(run.stderr).not.toMatch(/"level"/);
  });
});
