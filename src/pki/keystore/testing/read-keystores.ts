import forge from 'node-forge';

/** One entry of a JKS keystore as read back: its alias, its kind and the DER of its certificates. */
export interface JksEntryRead {
  readonly alias: string;
  readonly kind: 'key' | 'trusted';
  readonly certificates: readonly Buffer[];
}

/**
 * The entries of a JKS keystore (magic FEEDFEED, version 2), in file order, for tests: aliases,
 * kinds and certificates, the protected keys skipped. The integrity check is not verified
 * (keytool does that in test/integration/keytool/).
 */
export function readJksEntries(bytes: Buffer): JksEntryRead[] {
  let at = 0;
  const u16 = (): number => {
    const v = bytes.readUInt16BE(at);
    at += 2;
    return v;
  };
  const u32 = (): number => {
    const v = bytes.readUInt32BE(at);
    at += 4;
    return v;
  };
  const take = (n: number): Buffer => {
    if (at + n > bytes.length) throw new Error(`JKS truncated at ${at}`);
    const v = bytes.subarray(at, at + n);
    at += n;
    return v;
  };
  const utf = (): string => take(u16()).toString('utf8');
  const certificate = (): Buffer => {
    const type = utf();
    if (type !== 'X.509') throw new Error(`JKS certificate of type ${type}`);
    return Buffer.from(take(u32()));
  };
  if (u32() !== 0xfeedfeed) throw new Error('not a JKS keystore');
  if (u32() !== 2) throw new Error('not a version 2 JKS keystore');
  const count = u32();
  const entries: JksEntryRead[] = [];
  for (let i = 0; i < count; i++) {
    const tag = u32();
    const alias = utf();
    take(8);
    if (tag === 2) {
      entries.push({ alias, kind: 'trusted', certificates: [certificate()] });
      continue;
    }
    if (tag !== 1) throw new Error(`JKS entry tag ${tag}`);
    take(u32());
    const chain: Buffer[] = [];
    for (let n = u32(); n > 0; n--) chain.push(certificate());
    entries.push({ alias, kind: 'key', certificates: chain });
  }
  if (bytes.length - at !== 20) throw new Error('JKS has trailing bytes before its integrity check');
  return entries;
}

/**
 * The DER of every certificate in a PKCS#12 file, in the order of its bags, decrypted with
 * `password` by node-forge (an independent reader; the real openssl and keytool read them in
 * test/integration/). Certificates whose key forge cannot read (EC, Ed25519) come back too.
 */
export function readPkcs12Certificates(der: Buffer, password: string): Buffer[] {
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), password);
  const certBag = '1.2.840.113549.1.12.10.1.3';
  const bags: forge.pkcs12.Bag[] = p12.getBags({ bagType: certBag })[certBag] ?? [];
  return bags.map((bag) => {
    const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
    return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
  });
}
