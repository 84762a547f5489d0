/**
 * What `ebpm run --filter` and `--fields` make of an event layout's columns (decode.ts): a
 * predicate over records and the columns to print. Pure: text and columns in, functions out;
 * every mistake is a `USAGE` error naming the fields the events have.
 */
import { EbpmError } from '../core/errors.js';
import type { Column } from './decode.js';

/** `--filter`'s operators, longest first so that `<=` is not read as `<`. */
const OPERATORS = ['==', '!=', '<=', '>=', '<', '>', '~'] as const;
type Operator = (typeof OPERATORS)[number];

const TERM = /^([A-Za-z_][\w.]*)(==|!=|<=|>=|<|>|~)(.*)$/s;
const INTEGER = /^[+-]?\d+$/;

/** `RecordTest` is true for a record `--filter` keeps: the record at `offset` of `view`. */
export type RecordTest = (view: DataView, offset: number) => boolean;

function fieldsHint(columns: readonly Column[]): string {
  return `its events' fields: ${columns.map((c) => c.name).join(', ')}`;
}

function usage(flag: string, text: string, message: string, hint: string): EbpmError {
  return new EbpmError('USAGE', `run: ${flag} ${JSON.stringify(text)}: ${message}`, { hint });
}

function compare(op: Operator, order: number): boolean {
  switch (op) {
    case '==':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
    default:
      return false;
  }
}

/**
 * `eventFilter` compiles `--filter` (`comm==bash,pid!=1,fname~^/etc`: terms joined by commas,
 * all of which must hold) against the event columns. `==` and `!=` compare an integer field's
 * number when given a number, else the text the table shows (an enum's name, a string); `<`,
 * `<=`, `>`, `>=` compare numbers only; `~` matches the shown text with a JavaScript regular
 * expression. A term naming no field, with no operator, or comparing text by order is refused.
 */
export function eventFilter(text: string, columns: readonly Column[]): RecordTest {
  const tests = text.split(',').map((term) => termTest(term, text, columns));
  if (tests.length === 1) return tests[0]!;
  return (view, offset) => tests.every((t) => t(view, offset));
}

function termTest(term: string, whole: string, columns: readonly Column[]): RecordTest {
  const m = TERM.exec(term);
  if (m === null)
    throw usage('--filter', whole, `${JSON.stringify(term)} is not <field><operator><value>`, `operators: ${OPERATORS.join(' ')}; ${fieldsHint(columns)}`);
  const [, name, op, value] = m as unknown as [string, string, Operator, string];
  const column = columns.find((c) => c.name === name);
  if (column === undefined) throw usage('--filter', whole, `the events have no field ${name}`, fieldsHint(columns));
  const at = column.offset;
  const shown = (v: DataView, o: number) => column.format.text(v, o + at);
  if (op === '~') {
    let re: RegExp;
    try {
      re = new RegExp(value);
    } catch (e) {
      throw usage(
        '--filter',
        whole,
        `${JSON.stringify(value)} is not a regular expression (${(e as Error).message})`,
        'write a JavaScript regular expression: ~^/etc/',
      );
    }
    return (v, o) => re.test(shown(v, o));
  }
  const read = column.number;
  if (read !== undefined && INTEGER.test(value)) {
    const n = BigInt(value);
    return (v, o) => {
      const x = BigInt(read(v, o + at));
      return compare(op, x < n ? -1 : x > n ? 1 : 0);
    };
  }
  if (op !== '==' && op !== '!=') {
    const why = read === undefined ? `${name} is not a number` : `${JSON.stringify(value)} is not an integer`;
    throw usage('--filter', whole, `${op} compares numbers, and ${why}`, `compare text with ==, != or ~; ${fieldsHint(columns)}`);
  }
  return op === '==' ? (v, o) => shown(v, o) === value : (v, o) => shown(v, o) !== value;
}

/**
 * `pickColumns` reads `--fields`: either names (`pid,comm`: these columns, in this order) or
 * changes to the default set, every column (`-ret`, then `+ret` puts it back at the end), not
 * both. A name picks its column, or every column
 * of a nested struct (`addr` picks `addr.ip` and `addr.port`).
 */
export function pickColumns(text: string, columns: readonly Column[]): Column[] {
  const items = text.split(',').map((s) => s.trim());
  const relative = items.filter((s) => s.startsWith('+') || s.startsWith('-'));
  if (relative.length > 0 && relative.length < items.length)
    throw usage('--fields', text, 'names and +/- changes together', 'give the fields to print (pid,comm), or changes to the default set (-ret,+cpu)');
  const of = (name: string): Column[] => {
    const hit = columns.filter((c) => c.name === name || c.name.startsWith(`${name}.`));
    if (hit.length === 0) throw usage('--fields', text, name === '' ? 'an empty field name' : `the events have no field ${name}`, fieldsHint(columns));
    return hit;
  };
  if (relative.length === 0) {
    const picked = items.flatMap(of);
    return picked.filter((c, i) => picked.indexOf(c) === i);
  }
  let picked = [...columns];
  for (const item of items) {
    const named = of(item.slice(1));
    picked = item.startsWith('-') ? picked.filter((c) => !named.includes(c)) : [...picked, ...named.filter((c) => !picked.includes(c))];
  }
  if (picked.length === 0) throw usage('--fields', text, 'leaves no field to print', fieldsHint(columns));
  return picked;
}
