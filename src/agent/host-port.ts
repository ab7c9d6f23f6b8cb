import { MeshcaError } from '../errors/index.js';

/** A parsed HOST:PORT. */
export interface HostPort {
  /** A name or an IP address, without the brackets of an IPv6 address. */
  readonly host: string;
  readonly port: number;
}

// A DNS name (RFC 1123 labels), an IPv4 address, or a bracketed IPv6 address, then a port.
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)):(\d{1,5})$/;

/** Parses HOST:PORT (IPv6 as [::1]:15014); the error names `what` and shows the form expected. */
export function parseHostPort(what: string, value: string): HostPort {
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  const m = HOST_PORT.exec(value);
  const port = Number(m?.[3]);
  if (m === null || !(port >= 1 && port <= 65535)) {
    throw new MeshcaError('USAGE', `${what} must be HOST:PORT with a port from 1 to 65535, got ${JSON.stringify(shown)}`, {
      hint: 'for example istiod.istio-system.svc:15012, 127.0.0.1:15012 or [::1]:15012',
    });
  }
  return { host: m[1] ?? m[2] ?? '', port };
}
