// The few pieces of Go's encoding/json output that signed payloads depend on, byte for byte:
// cosign signs the exact bytes `json.Marshal` produced, so a re-encoding must match them.

/**
 * `goJsonString` encodes a string as Go ≥ 1.22 `json.Marshal` does: like `JSON.stringify`
 * (same short escapes `\b \f \n \r \t`, `\u00xx` lowercase for other controls), plus Go's
 * HTML-safe escapes of `<`, `>`, `&` and of U+2028/U+2029. Lone surrogates become U+FFFD, as
 * Go replaces invalid UTF-8.
 */
export function goJsonString(s: string): string {
  const wellFormed = s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return JSON.stringify(wellFormed).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `goJsonStringMap` encodes a `map[string]string`: keys sorted by UTF-8 bytes, as Go sorts them. */
export function goJsonStringMap(m: Readonly<Record<string, string>>): string {
  const keys = Object.keys(m).sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  return `{${keys.map((k) => `${goJsonString(k)}:${goJsonString(m[k]!)}`).join(',')}}`;
}
