/**
 * The three candidate transports, each serving CreateCertificate with a trivial handler (it
 * decodes the request and answers a fixed two-element chain). Run as a child process:
 *   node --import tsx bench/grpc-transport/servers.ts <grpc-js|connect|meshca>
 * It prints the port it listens on, then serves until killed.
 */
import { fileURLToPath } from 'node:url';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { istioServiceDesc } from './istio-service-desc.js';
import { createGrpcServer } from '../../src/ca-server/grpc/grpc-server.js';
import { decodeIstioCertificateRequest } from '../../src/ca-server/proto/istio-certificate-request.js';
import { encodeIstioCertificateResponse } from '../../src/ca-server/proto/istio-certificate-response.js';

const [, , kind, keyFile, certFile] = process.argv;
const key = readFileSync(keyFile!, 'utf8');
const cert = readFileSync(certFile!, 'utf8');
const CHAIN = [
  '-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n',
  '-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n',
];
const protoPath = fileURLToPath(new URL('../../src/ca-server/proto/ca.proto', import.meta.url));

async function main(): Promise<void> {
  if (kind === 'grpc-js') {
    const def = protoLoader.loadSync(protoPath, { longs: Number, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } };
    };
    const server = new grpc.Server();
    server.addService(pkg.istio.v1.auth.IstioCertificateService.service, {
      CreateCertificate: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { certChain: CHAIN }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        '127.0.0.1:0',
        grpc.ServerCredentials.createSsl(null, [
          { private_key: Buffer.from(key), cert_chain: Buffer.from(cert) },
        ]),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
    console.log(port);
  } else if (kind === 'connect') {
    const svc = istioServiceDesc();
    const handler = connectNodeAdapter({
      grpc: true,
      connect: false,
      grpcWeb: false,
      routes: (router) => router.service(svc, { createCertificate: () => ({ certChain: CHAIN }) } as never),
    });
    const server = http2.createSecureServer({ key, cert }, handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    console.log((server.address() as { port: number }).port);
  } else if (kind === 'meshca') {
    const server = createGrpcServer({
      tls: { key, cert },
      methods: {
        '/istio.v1.auth.IstioCertificateService/CreateCertificate': (call) => {
          decodeIstioCertificateRequest(call.message);
          return Promise.resolve(encodeIstioCertificateResponse(CHAIN));
        },
      },
    });
    console.log((await server.listen(0)).port);
  } else {
    throw new Error(`unknown server kind ${kind ?? ''}: use grpc-js, connect or meshca`);
  }
}

await main();
