import { isIPv4, isIPv6 } from 'node:net';
import { MeshcaError } from '../errors/index.js';

/** A parsed HOST:PORT. */
export interface HostPort {
  /** A name or an IP address, without the brackets of an IPv6 address. */
  readonly host: string;
  readonly port: number;
}

const EXAMPLES = 'for example istiod.istio-system.svc:15012, 127.0.0.1:15012 or [::1]:15012';
// RFC 1123 §2.1: letters, digits and hyphens, starting and ending with a letter or digit, 1 to 63 characters.
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
// An IPv4 dotted quad: four numbers 0-255 without leading zeros (010 is octal to inet_aton, decimal to others).
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const PORT = /^[1-9]\d{0,4}$/;

const quote = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/**
 * Why `host` is neither a DNS name (RFC 1123 labels, at most 253 characters, no trailing dot)
 * nor an IPv4 dotted quad; undefined when it is one of the two. A name whose last label is all
 * digits must be an IPv4 address (no top-level domain is numeric, and resolvers read such a name
 * as an address), so `1.2.3.4.5` and `1.2.3.256` are refused rather than looked up.
 */
export function hostNameProblem(host: string): string | undefined {
  if (host === '') return 'the host is empty';
  const labels = host.split('.');
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) {
    if (IPV4.test(host)) return undefined;
    return `the host ${quote(host)} is not an IPv4 address (four numbers from 0 to 255 without leading zeros, as 10.0.0.1), and a DNS name cannot end in a number`;
  }
  if (host.length > 253) return `the host ${quote(host)} is longer than 253 characters`;
  for (const label of labels) {
    if (label === '') return `the host ${quote(host)} is not a DNS name: it has an empty label (a dot at the start or end, or two in a row)`;
    if (label.length > 63) return `the host ${quote(host)} is not a DNS name: the label ${quote(label)} is longer than 63 characters`;
    if (!LABEL.test(label)) {
      const bad = /[^A-Za-z0-9-]/.exec(label);
      return bad !== null
        ? `the host ${quote(host)} is not a DNS name: ${JSON.stringify(bad[0])} is not allowed (only letters, digits, "-" and ".")`
        : `the host ${quote(host)} is not a DNS name: the label ${quote(label)} starts or ends with "-"`;
    }
  }
  return undefined;
}

/**
 * Parses HOST:PORT where HOST is a DNS name, an IPv4 dotted quad, or an IPv6 address in brackets
 * (as `[::1]:15012`, any form `net.isIPv6` accepts) and PORT is 1 to 65535 without leading zeros.
 * The error names `what`, the value and what is wrong with it.
 */
export function parseHostPort(what: string, value: string): HostPort {
  const fail = (problem: string): MeshcaError =>
    new MeshcaError('USAGE', `${what} must be HOST:PORT, got ${quote(value)}: ${problem}`, { hint: EXAMPLES });
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) throw fail('the "[" of an IPv6 address has no closing "]"');
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (!rest.startsWith(':')) throw fail(rest === '' ? 'the port is missing' : `${quote(rest)} after "]" is not ":PORT"`);
    if (!isIPv6(host)) {
      throw fail(`${quote(host)} in brackets is not an IPv6 address${isIPv4(host) ? ' (write an IPv4 address without brackets)' : ''}`);
    }
    portText = rest.slice(1);
  } else {
    if (value.includes('://')) throw fail('it is a URL; give the host and port only');
    const colon = value.lastIndexOf(':');
    if (colon < 0) throw fail('the port is missing');
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) {
      throw fail(isIPv6(host) ? 'an IPv6 address must be in brackets, as [::1]:15012' : 'the host has a ":" in it');
    }
    const problem = hostNameProblem(host);
    if (problem !== undefined) throw fail(problem);
  }
  if (portText === '') throw fail('the port is missing');
  const port = Number(portText);
  if (!PORT.test(portText) || port > 65535) throw fail(`the port must be a number from 1 to 65535 without leading zeros, got ${quote(portText)}`);
  return { host, port };
}
