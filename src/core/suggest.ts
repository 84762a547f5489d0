/**
 * "Did you mean": the candidate closest to a mistyped word, by edit distance (insertions,
 * deletions, substitutions and swaps of neighbours, each costing one). Pure.
 */

/** `suggest` is the candidate within `max(1, ⌊word.length / 3⌋)` edits of `word`, the closest first, or undefined. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { name: string; d: number } | undefined;
  for (const c of candidates) {
    if (c === word) continue;
    const d = distance(word, c);
    if (d <= limit && (best === undefined || d < best.d || (d === best.d && c < best.name))) best = { name: c, d };
  }
  return best?.name;
}

/** Optimal string alignment distance. */
function distance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
