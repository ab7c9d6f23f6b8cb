import { createHash, randomBytes as cryptoRandomBytes, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import type { Certificate } from '../certificate/certificate.js';
import { Tag, octetString, oid, sequence } from '../der/der-writer.js';

/** One entry of a JKS keystore. */
export type JksEntry =
  { alias: string; key: KeyObject; chain: readonly Certificate[] } | { alias: string; trusted: Certificate };

/** A JKS keystore to write (Java's original KeyStore format, "JKS"). */
export interface JksInput {
  entries: readonly JksEntry[];
  password: string;
  /** The entries' creation date, in milliseconds (time is injected). */
  now: Date;
  /** Source of the key-protection salt (default crypto.randomBytes). */
  randomBytes?: (n: number) => Buffer;
}

// Sun's KeyProtector: the OID Java writes for its own key protection in JKS.
const SUN_KEY_PROTECTOR = '1.3.6.1.4.1.42.2.17.1.1';
const MAGIC = 0xfeedfeed;
const VERSION = 2;
const MAX_PASSWORD = 1024;

/** The password as Java's char[] in big-endian bytes, as JKS hashes it. */
function passwordBytes(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/** DataOutputStream.writeUTF: a two-octet length and modified UTF-8 (here ASCII-compatible UTF-8 without NUL). */
function utf(text: string, field: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > 0xffff || text.includes('\0') || text.length === 0)
    throw new MeshcaError('INVALID_INPUT', `the JKS ${field} must be 1 to 65535 octets without NUL`, {
      hint: 'use a short alias such as "certificate"',
    });
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
};
const certificate = (cert: Certificate): Buffer =>
  Buffer.concat([utf('X.509', 'certificate type'), u32(cert.der.length), cert.der]);

/**
 * Java's KeyProtector: the PKCS#8 key XORed with a SHA-1 stream of (password, salt), then a
 * SHA-1 check of (password, key), wrapped as an EncryptedPrivateKeyInfo.
 */
function protectKey(key: KeyObject, password: Buffer, salt: Buffer): Buffer {
  const plain = key.export({ format: 'der', type: 'pkcs8' });
  const stream: Buffer[] = [];
  let digest = salt;
  for (let have = 0; have < plain.length; have += 20) {
    digest = createHash('sha1').update(password).update(digest).digest();
    stream.push(digest);
  }
  const xorKey = Buffer.concat(stream);
  const encrypted = Buffer.alloc(plain.length);
  for (let i = 0; i < plain.length; i++) encrypted[i] = (plain[i] ?? 0) ^ (xorKey[i] ?? 0);
  const check = createHash('sha1').update(password).update(plain).digest();
  return sequence(
    sequence(oid(SUN_KEY_PROTECTOR), Buffer.from([Tag.NULL, 0])),
    octetString(Buffer.concat([salt, encrypted, check])),
  );
}

/** A JKS keystore (magic FEEDFEED, version 2) with its SHA-1 integrity check, as `keytool` reads it. */
export function encodeJks(input: JksInput): Buffer {
  if (input.password.length === 0 || input.password.length > MAX_PASSWORD)
    throw new MeshcaError(
      'INVALID_INPUT',
      `the JKS password must be 1 to ${MAX_PASSWORD} characters, got ${input.password.length}`,
      {
        hint: 'use a non-empty password',
      },
    );
  const now = input.now.getTime();
  if (!Number.isFinite(now)) throw new MeshcaError('INVALID_INPUT', 'the JKS entry date is not a valid date');
  const aliases = new Set<string>();
  const pw = passwordBytes(input.password);
  const random = input.randomBytes ?? cryptoRandomBytes;
  const parts: Buffer[] = [u32(MAGIC), u32(VERSION), u32(input.entries.length)];
  for (const entry of input.entries) {
    // Java folds aliases to lower case: two that differ only in case would collide.
    const alias = entry.alias.toLowerCase();
    if (aliases.has(alias))
      throw new MeshcaError('INVALID_INPUT', `the JKS alias "${alias}" is used twice`, {
        hint: 'give each entry its own alias',
      });
    aliases.add(alias);
    if ('trusted' in entry) {
      parts.push(u32(2), utf(alias, 'alias'), u64(now), certificate(entry.trusted));
      continue;
    }
    if (entry.key.type !== 'private')
      throw new MeshcaError('KEY_INVALID', 'a JKS key entry needs the private key');
    if (entry.chain.length === 0)
      throw new MeshcaError('INVALID_INPUT', `the JKS key entry "${alias}" needs its certificate chain`);
    const protectedKey = protectKey(entry.key, pw, random(20));
    parts.push(
      u32(1),
      utf(alias, 'alias'),
      u64(now),
      u32(protectedKey.length),
      protectedKey,
      u32(entry.chain.length),
    );
    for (const cert of entry.chain) parts.push(certificate(cert));
  }
  const body = Buffer.concat(parts);
  // The integrity check: SHA-1 over the password, the phrase "Mighty Aphrodite" and the body.
  const check = createHash('sha1').update(pw).update('Mighty Aphrodite', 'utf8').update(body).digest();
  return Buffer.concat([body, check]);
}
