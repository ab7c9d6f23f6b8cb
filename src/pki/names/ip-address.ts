import { isIPv4, isIPv6 } from 'node:net';

/** The 4 or 16 octets of an IPv4 or IPv6 address in text form, or undefined when it is not one. */
export function ipToBytes(text: string): Buffer | undefined {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let head = text;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tailV4 = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = head.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const l = groups(left);
  const r = right === undefined ? [] : groups(right);
  const words = right === undefined ? l : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  if (tailV4.length === 4) Buffer.from(tailV4).copy(out, 12);
  return out;
}

/** Text form of 4 or 16 address octets: dotted IPv4, or RFC 5952 canonical IPv6. */
export function bytesToIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Address and mask octets (8 or 32) of a CIDR range such as "10.0.0.0/8", as name constraints carry it. */
export function cidrToBytes(cidr: string): Buffer | undefined {
  const slash = cidr.indexOf('/');
  if (slash < 0) return undefined;
  const addr = ipToBytes(cidr.slice(0, slash));
  const bitsText = cidr.slice(slash + 1);
  if (addr === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > addr.length * 8) return undefined;
  const mask = Buffer.alloc(addr.length);
  for (let i = 0; i < bits; i++) mask[i >> 3] = (mask[i >> 3] ?? 0) | (0x80 >> (i & 7));
  const network = Buffer.from(addr.map((b, i) => b & (mask[i] ?? 0)));
  return Buffer.concat([network, mask]);
}

/** CIDR text of address-and-mask octets; undefined when the mask is not contiguous. */
export function bytesToCidr(bytes: Buffer): string | undefined {
  if (bytes.length !== 8 && bytes.length !== 32) return undefined;
  const half = bytes.length / 2;
  const mask = bytes.subarray(half);
  let bits = 0;
  let ended = false;
  for (const b of mask) {
    for (let i = 7; i >= 0; i--) {
      const set = (b >> i) & 1;
      if (set && ended) return undefined;
      if (set) bits++;
      else ended = true;
    }
  }
  return `${bytesToIp(bytes.subarray(0, half))}/${bits}`;
}
