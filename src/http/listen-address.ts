import { isIP } from 'node:net';
import { MeshcaError } from '../errors/index.js';

/** A host and port to listen on (or bound to). */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** meshca's default `--http-address`, the port cert-manager serves its metrics on. */
export const DEFAULT_HTTP_ADDRESS = '0.0.0.0:9402';

/**
 * Parses `host:port`, `[v6]:port` or `:port` (all interfaces). The host is an IP address or a
 * DNS name; port 0 asks the system for a free one.
 */
export function parseListenAddress(text: string): ListenAddress {
  const bad = (why: string): MeshcaError =>
    new MeshcaError('INVALID_INPUT', `the listen address ${JSON.stringify(text.slice(0, 200))} ${why}`, {
      hint: 'write host:port, [ipv6]:port or :port, e.g. 0.0.0.0:9402',
    });
  if (text.length > 300) throw bad('is too long');
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') throw bad('has a [ without a matching ]:port');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) throw bad('has brackets around something that is not an IPv6 address');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw bad('has no port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw bad('has an IPv6 address without brackets');
    if (host === '') host = '0.0.0.0';
    else if (
      isIP(host) === 0 &&
      !/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
        host,
      )
    ) {
      throw bad('has a host that is neither an IP address nor a DNS name');
    }
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad('has a port that is not a number from 0 to 65535');
  const port = Number(portText);
  if (port > 65535) throw bad('has a port above 65535');
  return { host, port };
}

/** Formats an address back into the form parseListenAddress reads. */
export function formatListenAddress(address: ListenAddress): string {
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
