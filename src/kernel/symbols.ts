/**
 * Pure parsers for symbolizing stack frames: `/proc/kallsyms` (kernel addresses) and
 * `/proc/<pid>/maps` (which file a user address is mapped from). Text in, tables out; the
 * reader that opens those files is symbolize.ts.
 */

/** The kernel's symbols, sorted by address, for `kernelSymbol`. */
export interface KernelSymbols {
  readonly addresses: readonly bigint[];
  readonly names: readonly string[];
  /** The module of each symbol, `''` for the kernel's own. */
  readonly modules: readonly string[];
  /**
   * Every address reads 0: the kernel hides them from this reader (not root, or
   * `kernel.kptr_restrict` 2), so no frame can be named.
   */
  readonly hidden: boolean;
}

/**
 * `parseKallsyms` reads `/proc/kallsyms` lines (`ffffffff8142f660 T hrtimer_nanosleep`, module
 * symbols followed by a tab and `[module]`) into a table sorted by address. Lines that are not
 * `<hex> <type> <name>` are skipped, as are absolute (`a`/`A`) symbols, which are no code address.
 */
export function parseKallsyms(text: string): KernelSymbols {
  const entries: { address: bigint; name: string; module: string }[] = [];
  let zero = 0;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([A-Za-z]) (\S+)(?:\t\[(\S+)\])?$/.exec(line);
    if (m === null || m[2] === 'a' || m[2] === 'A') continue;
    const address = BigInt(`0x${m[1]}`);
    if (address === 0n) zero++;
    entries.push({ address, name: m[3]!, module: m[4] ?? '' });
  }
  entries.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return {
    addresses: entries.map((e) => e.address),
    names: entries.map((e) => e.name),
    modules: entries.map((e) => e.module),
    hidden: entries.length > 0 && zero === entries.length,
  };
}

/** The index of the last element of sorted `list` at or below `x`, or -1. */
export function floorIndex(list: readonly bigint[], x: bigint): number {
  let lo = 0;
  let hi = list.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * `kernelSymbol` names `address` as `symbol+0xoffset` after the nearest symbol at or below it
 * (`symbol+0xoffset [module]` in a module); undefined below the first symbol or when the
 * addresses are hidden.
 */
export function kernelSymbol(table: KernelSymbols, address: bigint): string | undefined {
  if (table.hidden) return undefined;
  const i = floorIndex(table.addresses, address);
  if (i < 0) return undefined;
  const module = table.modules[i] === '' ? '' : ` [${table.modules[i]}]`;
  return `${table.names[i]}+0x${(address - table.addresses[i]!).toString(16)}${module}`;
}

/** One line of `/proc/<pid>/maps`: `[start, end)` mapped from `path` at file `offset`. */
export interface Mapping {
  readonly start: bigint;
  readonly end: bigint;
  readonly perms: string;
  readonly offset: bigint;
  /** The file, or a pseudo name (`[stack]`, `[vdso]`); empty for anonymous memory. */
  readonly path: string;
}

/**
 * `parseProcMaps` reads `/proc/<pid>/maps` lines
 * (`7f3a1c000000-7f3a1c022000 r-xp 00028000 fe:01 1234  /usr/lib/x86_64-linux-gnu/libc.so.6`),
 * in the kernel's order (by address). Malformed lines are skipped.
 */
export function parseProcMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \d+ *(.*)$/.exec(line);
    if (m === null) continue;
    out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3]!, offset: BigInt(`0x${m[4]}`), path: m[5]! });
  }
  return out;
}

/** `mappingOf` is the mapping of sorted `maps` that holds `address`, or undefined. */
export function mappingOf(maps: readonly Mapping[], address: bigint): Mapping | undefined {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = maps[mid]!;
    if (address < m.start) hi = mid - 1;
    else if (address >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
}
