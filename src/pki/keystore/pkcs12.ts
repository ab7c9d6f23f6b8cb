import {
  createCipheriv,
  createHash,
  createHmac,
  pbkdf2Sync,
  randomBytes as cryptoRandomBytes,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type forgeType from 'node-forge';
import { MeshcaError } from '../../errors/index.js';
import {
  Tag,
  contextConstructed,
  contextPrimitive,
  integer,
  octetString,
  oid,
  sequence,
  setOf,
} from '../der/der-writer.js';
import type { Certificate } from '../certificate/certificate.js';

/** cert-manager's PKCS#12 profiles: LegacyRC2 (its default), LegacyDES and Modern2023. */
export type Pkcs12Profile = 'LegacyRC2' | 'LegacyDES' | 'Modern2023';

/** A keystore to write: the key with its certificate chain (leaf first), or a truststore of certificates alone. */
export interface Pkcs12Input {
  /** The private key; absent for a truststore. */
  key?: KeyObject;
  /** Leaf first, then its chain; or the trusted roots for a truststore. */
  certificates: readonly Certificate[];
  password: string;
  profile?: Pkcs12Profile;
  /** Source of salts and IVs (default crypto.randomBytes). */
  randomBytes?: (n: number) => Buffer;
}

const O = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag8Shrouded: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  pbeSha3Des: '1.2.840.113549.1.12.1.3',
  pbeShaRc2_40: '1.2.840.113549.1.12.1.6',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  // Java reads a certificate as trusted only with Oracle's trustedKeyUsage bag attribute.
  javaTrustedKeyUsage: '2.16.840.1.113894.746875.1.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
} as const;

/** Iterations of every key derivation: 2048, as cert-manager's PKCS#12 encoder and OpenSSL use. */
const ITERATIONS = 2048;
const NULL = Buffer.from([Tag.NULL, 0]);
const MAX_PASSWORD = 1024;

/** RFC 7292 Appendix B.1: the password as a BMPString with two trailing zero octets. */
function bmpPassword(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/** RFC 7292 Appendix B.2: the PKCS#12 key derivation (id 1 key, 2 IV, 3 MAC key). */
export function pkcs12Kdf(
  hash: 'sha1' | 'sha256',
  password: Buffer,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  const u = hash === 'sha1' ? 20 : 32;
  const v = 64;
  const fill = (src: Buffer): Buffer => {
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length] ?? 0;
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([
    salt.length === 0 ? Buffer.alloc(0) : fill(salt),
    password.length === 0 ? Buffer.alloc(0) : fill(password),
  ]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    blocks.push(A);
    const B = Buffer.alloc(v);
    for (let k = 0; k < v; k++) B[k] = A[k % u] ?? 0;
    // I_j = (I_j + B + 1) mod 2^(8v), block by block, big-endian.
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (I[j + k] ?? 0) + (B[k] ?? 0) + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

interface Encrypted {
  algorithm: Buffer;
  ciphertext: Buffer;
}

/** node-forge, loaded only for the legacy RC2 profile (it adds ≈ 11 MiB to a process). */
let forgeLib: typeof forgeType | undefined;

/** Encrypts with the profile's cipher: PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) or a PKCS#12 PBE (RFC 7292 Appendix C). */
function encrypt(
  cipher: 'aes' | '3des' | 'rc2',
  password: string,
  plain: Buffer,
  random: (n: number) => Buffer,
): Encrypted {
  const salt = random(cipher === 'aes' ? 16 : 8);
  if (cipher === 'aes') {
    // RFC 8018 §6.2: PBES2 takes the password as UTF-8 octets.
    const iv = random(16);
    const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, ITERATIONS, 32, 'sha256');
    const c = createCipheriv('aes-256-cbc', key, iv);
    const params = sequence(
      sequence(
        oid(O.pbkdf2),
        sequence(octetString(salt), integer(ITERATIONS), sequence(oid(O.hmacWithSha256), NULL)),
      ),
      sequence(oid(O.aes256Cbc), octetString(iv)),
    );
    return {
      algorithm: sequence(oid(O.pbes2), params),
      ciphertext: Buffer.concat([c.update(plain), c.final()]),
    };
  }
  const pw = bmpPassword(password);
  const params = sequence(octetString(salt), integer(ITERATIONS));
  if (cipher === '3des') {
    const key = pkcs12Kdf('sha1', pw, salt, 1, ITERATIONS, 24);
    const iv = pkcs12Kdf('sha1', pw, salt, 2, ITERATIONS, 8);
    const c = createCipheriv('des-ede3-cbc', key, iv);
    return {
      algorithm: sequence(oid(O.pbeSha3Des), params),
      ciphertext: Buffer.concat([c.update(plain), c.final()]),
    };
  }
  // RC2-40 is in OpenSSL 3's legacy provider, which Node does not load: node-forge's RC2 does it.
  const key = pkcs12Kdf('sha1', pw, salt, 1, ITERATIONS, 5);
  const iv = pkcs12Kdf('sha1', pw, salt, 2, ITERATIONS, 8);
  const forge = (forgeLib ??= createRequire(import.meta.url)('node-forge') as typeof forgeType);
  const c = forge.rc2.createEncryptionCipher(key.toString('binary'), 40);
  c.start(iv.toString('binary'));
  c.update(forge.util.createBuffer(plain.toString('binary')));
  if (!c.finish()) throw new MeshcaError('INTERNAL', 'RC2 encryption of the PKCS#12 certificates failed');
  return {
    algorithm: sequence(oid(O.pbeShaRc2_40), params),
    ciphertext: Buffer.from(c.output.getBytes(), 'binary'),
  };
}

const PROFILES: Record<
  Pkcs12Profile,
  { certs: 'aes' | '3des' | 'rc2'; key: 'aes' | '3des'; mac: 'sha1' | 'sha256' }
> = {
  LegacyRC2: { certs: 'rc2', key: '3des', mac: 'sha1' },
  LegacyDES: { certs: '3des', key: '3des', mac: 'sha1' },
  Modern2023: { certs: 'aes', key: 'aes', mac: 'sha256' },
};

const attribute = (type: string, value: Buffer): Buffer => sequence(oid(type), setOf(value));

const dataContentInfo = (content: Buffer): Buffer =>
  sequence(oid(O.data), contextConstructed(0, octetString(content)));

/** ContentInfo of type encryptedData (RFC 2315 §13) holding the SafeContents encrypted. */
function encryptedContentInfo(e: Encrypted): Buffer {
  return sequence(
    oid(O.encryptedData),
    contextConstructed(
      0,
      sequence(integer(0), sequence(oid(O.data), e.algorithm, contextPrimitive(0, e.ciphertext))),
    ),
  );
}

/**
 * A PKCS#12 file (RFC 7292) as cert-manager writes `keystore.p12` and `truststore.p12`: the
 * certificates in an encrypted SafeContents, the key in a pkcs8ShroudedKeyBag, and an HMAC over
 * both, with the ciphers of `profile` (default LegacyRC2, as cert-manager).
 */
export function encodePkcs12(input: Pkcs12Input): Buffer {
  const profile = PROFILES[input.profile ?? 'LegacyRC2'];
  if (profile === undefined)
    throw new MeshcaError('INVALID_INPUT', `unknown PKCS#12 profile "${String(input.profile)}"`, {
      hint: 'use LegacyRC2, LegacyDES or Modern2023',
    });
  if (input.password.length > MAX_PASSWORD)
    throw new MeshcaError(
      'INVALID_INPUT',
      `the PKCS#12 password is ${input.password.length} characters; the limit is ${MAX_PASSWORD}`,
      {
        hint: 'use a shorter password',
      },
    );
  if (input.certificates.length === 0)
    throw new MeshcaError('INVALID_INPUT', 'a PKCS#12 file needs at least one certificate');
  const random = input.randomBytes ?? cryptoRandomBytes;
  const leaf = input.certificates[0];
  // The key and its certificate share a localKeyId: the leaf's SHA-1 fingerprint, as OpenSSL does.
  const localKeyId = leaf === undefined ? undefined : createHash('sha1').update(leaf.der).digest();
  const certBags = input.certificates.map((cert, i) => {
    const attrs: Buffer[] = [];
    if (input.key !== undefined && i === 0 && localKeyId !== undefined)
      attrs.push(attribute(O.localKeyId, octetString(localKeyId)));
    if (input.key === undefined) attrs.push(attribute(O.javaTrustedKeyUsage, oid(O.anyExtendedKeyUsage)));
    return sequence(
      oid(O.certBag),
      contextConstructed(0, sequence(oid(O.x509Certificate), contextConstructed(0, octetString(cert.der)))),
      ...(attrs.length > 0 ? [setOf(...attrs)] : []),
    );
  });
  const contents = [
    encryptedContentInfo(encrypt(profile.certs, input.password, sequence(...certBags), random)),
  ];
  if (input.key !== undefined) {
    if (input.key.type !== 'private')
      throw new MeshcaError('KEY_INVALID', 'a PKCS#12 keystore needs the private key');
    const pkcs8 = input.key.export({ format: 'der', type: 'pkcs8' });
    const e = encrypt(profile.key, input.password, pkcs8, random);
    const keyBag = sequence(
      oid(O.keyBag8Shrouded),
      contextConstructed(0, sequence(e.algorithm, octetString(e.ciphertext))),
      setOf(attribute(O.localKeyId, octetString(localKeyId ?? Buffer.alloc(0)))),
    );
    contents.push(dataContentInfo(sequence(keyBag)));
  }
  const authSafe = sequence(...contents);
  // RFC 7292 §5.1 and Appendix B: the MAC key comes from the PKCS#12 KDF with id 3.
  const macSalt = random(profile.mac === 'sha1' ? 8 : 16);
  const macKey = pkcs12Kdf(
    profile.mac,
    bmpPassword(input.password),
    macSalt,
    3,
    ITERATIONS,
    profile.mac === 'sha1' ? 20 : 32,
  );
  const digest = createHmac(profile.mac, macKey).update(authSafe).digest();
  const macData = sequence(
    sequence(sequence(oid(profile.mac === 'sha1' ? O.sha1 : O.sha256), NULL), octetString(digest)),
    octetString(macSalt),
    integer(ITERATIONS),
  );
  return sequence(integer(3), dataContentInfo(authSafe), macData);
}
