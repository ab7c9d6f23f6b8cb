import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../../bin/meshca.js', import.meta.url));
const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'meshca-demo-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('meshca demo (the README first command), run as users run it', () => {
  it('issues, renews, shows mTLS and one refused peer, and exits 0 once it has shut everything down', async () => {
    const home = path.join(dir, 'home');
    // The shortest run that still shows a renewal: agents renew at half of a 20 s lifetime.
    const { stdout } = await run(BIN, ['demo', '--duration', '12s', '--lifetime', '20s', '--demo-home', home], {
      timeout: 40_000,
    });
    for (const sa of ['frontend', 'backend', 'intruder'])
      expect(stdout).toMatch(new RegExp(`issued  spiffe://cluster\\.local/ns/demo/sa/${sa}, serial [0-9a-f]{12}`));
    expect(stdout).toContain('frontend → backend: handshake OK');
    expect(stdout).toContain('backend answered: hello spiffe://cluster.local/ns/demo/sa/frontend');
    expect(stdout).toContain('REFUSED spiffe://cluster.local/ns/demo/sa/intruder: not in the allow list');
    expect(stdout).toMatch(/RENEWED spiffe:\/\/cluster\.local\/ns\/demo\/sa\/\w+/);
    expect(stdout).toMatch(/meshca demo done: \d+ rounds, [1-9]\d* renewal\(s\)/);
    // The keys the agents wrote are the owner's alone.
    for (const sa of ['frontend', 'backend', 'intruder'])
      expect(statSync(path.join(home, 'workloads', sa, 'key.pem')).mode & 0o777).toBe(0o600);
    // The command the demo prints at the end works: every issuance is in the audit log.
    const audit = await run(BIN, ['--home', home, 'audit'], { timeout: 20_000 });
    const issued = [...stdout.matchAll(/(issued|RENEWED) +spiffe/g)].length;
    expect(audit.stdout.split('\n').filter((l) => l.includes('spiffe://cluster.local/ns/demo/sa/')).length).toBe(issued);
  }, 60_000);
});
