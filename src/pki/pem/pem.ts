import { MeshcaError } from '../../errors/index.js';

/** One PEM block: its label ("CERTIFICATE", "PRIVATE KEY" …) and the DER it carries. */
export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

/** PEM text for a DER value (RFC 7468 §2: 64-character lines, LF line ends). */
export function pemEncode(label: string, der: Buffer): string {
  if (!/^[\x21-\x2c\x2e-\x7e]+( [\x21-\x2c\x2e-\x7e]+)*$/.test(label)) {
    throw new MeshcaError('PEM_INVALID', `"${label}" is not a PEM label`, {
      hint: 'use printable ASCII without "-", e.g. CERTIFICATE',
    });
  }
  const b64 = der.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

const BEGIN = /-----BEGIN ([^-\r\n]*)-----/g;
// Checked on the body with its whitespace removed first: the one-pattern form
// /^[A-Za-z0-9+/\s]*={0,2}\s*$/ backtracks quadratically on a long run of whitespace followed by
// a bad character (63,000 spaces and a "!" took 5 s), and a CSR is hostile input.
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;
// Explanatory text between blocks is allowed (RFC 7468 §5.2); headers such as Proc-Type are not.

/** Every PEM block in `text`, in order; throws PEM_INVALID for a broken block or when there is none. */
export function pemDecodeAll(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  BEGIN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = BEGIN.exec(text)) !== null) {
    const label = m[1] ?? '';
    const endMarker = `-----END ${label}-----`;
    const bodyStart = m.index + m[0].length;
    const endAt = text.indexOf(endMarker, bodyStart);
    if (endAt < 0) {
      throw new MeshcaError(
        'PEM_INVALID',
        `the PEM block "${label}" that starts at character ${m.index} has no "${endMarker}" line`,
        {
          hint: 'the text is cut short or its END label does not match its BEGIN label',
        },
      );
    }
    const body = text.slice(bodyStart, endAt);
    if (body.includes(':')) {
      throw new MeshcaError(
        'PEM_INVALID',
        `the PEM block "${label}" has headers (such as Proc-Type); encrypted legacy PEM is not supported`,
        {
          hint: 'convert it to unencrypted PKCS#8 first: openssl pkcs8 -topk8 -nocrypt',
        },
      );
    }
    const compact = body.replace(/\s+/g, '');
    if (!BASE64_BODY.test(compact) || compact.length % 4 !== 0) {
      throw new MeshcaError(
        'PEM_INVALID',
        `the PEM block "${label}" that starts at character ${m.index} is not valid base64`,
        {
          hint: 'the block was altered or truncated; copy it again in full',
        },
      );
    }
    const der = Buffer.from(compact, 'base64');
    if (der.length === 0) throw new MeshcaError('PEM_INVALID', `the PEM block "${label}" is empty`);
    blocks.push({ label, der });
    BEGIN.lastIndex = endAt + endMarker.length;
  }
  if (blocks.length === 0) {
    throw new MeshcaError(
      'PEM_INVALID',
      'no PEM block found: expected a line like "-----BEGIN CERTIFICATE-----"',
      {
        hint: 'pass PEM text, not DER bytes or a file path',
      },
    );
  }
  return blocks;
}

/** The DER of the first block whose label is one of `labels`; throws PEM_INVALID naming what was found. */
export function pemDecodeFirst(text: string, labels: readonly string[]): PemBlock {
  const blocks = pemDecodeAll(text);
  const found = blocks.find((b) => labels.includes(b.label));
  if (found === undefined) {
    throw new MeshcaError(
      'PEM_INVALID',
      `expected a PEM block labelled ${labels.map((l) => `"${l}"`).join(' or ')}, found ${blocks.map((b) => `"${b.label}"`).join(', ')}`,
    );
  }
  return found;
}

/** The DER of PEM-or-DER input: a Buffer not starting with "-----" is taken as DER. */
export function derOf(input: string | Buffer, labels: readonly string[]): Buffer {
  if (typeof input !== 'string') {
    // Every structure read here is a SEQUENCE, so DER starts with 0x30 and PEM never does.
    if (input[0] === 0x30) return input;
    return pemDecodeFirst(input.toString('latin1'), labels).der;
  }
  return pemDecodeFirst(input, labels).der;
}
