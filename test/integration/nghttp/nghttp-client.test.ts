import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGrpcServer, type GrpcServer } from '../../../src/ca-server/grpc/grpc-server.js';
import { makeTestTls } from '../../../src/ca-server/testing/test-tls.js';
import { requirePeer } from '../peer.js';

// nghttp2's own client and load generator are the referee for meshca's hand-written HTTP/2
// layer: gRPC-shaped calls from them must succeed, byte for byte, trailers included.

const run = promisify(execFile);
const METHOD = '/test.Echo/Echo';

/** A gRPC length-prefixed message: flag 0, big-endian length, bytes. */
function grpcFrame(message: Buffer): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** The same message bytes every time, so an echo that reorders or drops bytes shows. */
function message(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + 3) & 0xff;
  return out;
}

const peers = requirePeer('nghttp', 'nghttp2-client') && requirePeer('h2load', 'nghttp2-client');

describe.runIf(peers)('nghttp2 clients against createGrpcServer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshca-nghttp-'));
  const received: number[] = [];
  const errors: string[] = [];
  let server: GrpcServer;
  let url: string;

  beforeAll(async () => {
    const material = makeTestTls();
    server = createGrpcServer({
      tls: { key: material.serverKey, cert: material.serverCert },
      methods: {
        [METHOD]: async (call) => {
          received.push(call.message.length);
          return call.message;
        },
      },
      onError: (err, context) => errors.push(`${context}: ${String(err)}`),
    });
    const address = await server.listen(0);
    url = `https://127.0.0.1:${address.port}${METHOD}`;
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const GRPC_HEADERS = ['-H', 'content-type: application/grpc', '-H', 'te: trailers'];

  const sizes: { name: string; size: number }[] = [
    { name: 'a 5-octet message', size: 5 },
    { name: 'a 60 KiB message', size: 60 * 1024 },
  ];

  it.each(sizes)('nghttp posts $name and gets the same message back', async ({ size }) => {
    const body = grpcFrame(message(size));
    const file = join(dir, `body-${size}.bin`);
    writeFileSync(file, body);
    received.length = 0;
    // Without -v, stdout is exactly the response body.
    const { stdout } = await run('nghttp', ['-d', file, ...GRPC_HEADERS, url], {
      encoding: 'buffer',
      maxBuffer: 1 << 22,
    });
    expect(stdout.equals(body)).toBe(true);
    expect(received).toEqual([size]);
    expect(errors).toEqual([]);
  });

  it.each(sizes)(
    'nghttp -v shows $name answered with status 200 and grpc-status 0 in trailers',
    async ({ size }) => {
      const file = join(dir, `body-${size}.bin`);
      writeFileSync(file, grpcFrame(message(size)));
      const { stdout } = await run('nghttp', ['-v', '-d', file, ...GRPC_HEADERS, url], {
        encoding: 'latin1',
        maxBuffer: 1 << 22,
      });
      expect(stdout).toMatch(/The negotiated protocol: h2/);
      expect(stdout).toMatch(/recv \(stream_id=(\d+)\) :status: 200\n/);
      expect(stdout).toMatch(/recv \(stream_id=\d+\) content-type: application\/grpc\+proto\n/);
      // The field grpc-status: 0 arrives in a HEADERS frame that ends the stream: the trailers.
      expect(stdout).toMatch(
        /recv \(stream_id=(\d+)\) grpc-status: 0\n\[[^\]]*\] recv HEADERS frame <length=\d+, flags=0x05, stream_id=\1>\n\s+; END_STREAM \| END_HEADERS/,
      );
      expect(stdout).not.toMatch(/RST_STREAM|error_code=(?!NO_ERROR)/);
      expect(errors).toEqual([]);
    },
  );

  it.each(sizes)(
    'h2load makes 200 calls with $name over 4 connections, 10 at a time, all succeeding',
    async ({ size }) => {
      const body = grpcFrame(message(size));
      const file = join(dir, `body-${size}.bin`);
      writeFileSync(file, body);
      received.length = 0;
      const { stdout } = await run(
        'h2load',
        ['-n', '200', '-c', '4', '-m', '10', '-d', file, ...GRPC_HEADERS, url],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 22,
        },
      );
      expect(stdout).toMatch(/Application protocol: h2\n/);
      expect(stdout).toMatch(
        /requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored, 0 timeout\n/,
      );
      expect(stdout).toMatch(/status codes: 200 2xx, 0 3xx, 0 4xx, 0 5xx\n/);
      // Response DATA octets: every call got its whole message back.
      expect(stdout).toMatch(new RegExp(`traffic: .* \\(${200 * body.length}\\) data\\n`));
      expect(received).toEqual(Array.from({ length: 200 }, () => size));
      expect(errors).toEqual([]);
    },
  );
});
