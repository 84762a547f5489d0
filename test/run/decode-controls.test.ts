// Event strings come from whatever the traced processes hold (file names, commands): in text
// output every control character is escaped, C1 and DEL included, so a traced name cannot drive
// the terminal; JSON output stays the exact string.
import { expect, it } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import { eventFormat, valueFormat } from '../../src/package/decode.js';

const event: TypeLayout = { kind: 'struct', size: 32, name: 'event', fields: [{ name: 'file', offset: 0, layout: { kind: 'string', size: 32 } }] };

it('escapes C0, DEL and C1 in the text of a string field', () => {
  const bytes = new Uint8Array(32);
  bytes.set(new TextEncoder().encode('a\u001b]0;x\u0007\u009b2J\u007fz'));
  const v = new DataView(bytes.buffer);
  expect(eventFormat(event).cells(v, 0, 32)).toEqual(['a\\u001b]0;x\\u0007\\u009b2J\\u007fz']);
  expect(JSON.parse(valueFormat(event).json(v, 0))).toEqual({ file: 'a\u001b]0;x\u0007\u009b2J\u007fz' });
});
