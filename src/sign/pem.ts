// PEM (RFC 7468) and strict base64, the two text encodings key files and signatures use.
import { EbpmError } from '../core/errors.js';

/** `PemBlock` is one `-----BEGIN <type>-----` … `-----END <type>-----` block, decoded. */
export interface PemBlock {
  readonly type: string;
  readonly der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/**
 * `decodePem` returns every block of `text`, in order. Text between blocks is ignored
 * (RFC 7468 §2 allows explanatory text); a block whose END label differs from its BEGIN
 * label or whose body is not strict base64 is `KEY_MALFORMED`. Headers (RFC 1421
 * `Proc-Type:` lines) are not supported: no key format ebpm reads uses them.
 */
export function decodePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, begin, body, end] = m as unknown as [string, string, string, string];
    if (begin !== end) throw malformed(`pem block "${begin}" ends with "${end}"`);
    const der = decodeBase64Strict(body.replace(/\s+/g, ''));
    if (der === undefined || der.length === 0) throw malformed(`pem block "${begin}" has no valid base64 body`);
    blocks.push({ type: begin, der });
  }
  return blocks;
}

/** `encodePem` writes one block with 64-column lines, as Go's `encoding/pem` does. */
export function encodePem(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

/**
 * `decodeBase64Strict` decodes RFC 4648 §4 standard base64 with padding (what Go's
 * `base64.StdEncoding` writes), or returns `undefined`: Node's own decoder silently skips
 * bad characters, which would let a corrupted signature or key decode to something else.
 */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const out = Buffer.from(s, 'base64');
  return out.toString('base64') === s ? out : undefined;
}

function malformed(message: string): EbpmError {
  return new EbpmError('KEY_MALFORMED', message, { hint: 'the key file is damaged or not a PEM key; export it again' });
}
