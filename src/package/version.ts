/**
 * Versions and tags (registry-spec/package-v1.md §"Versions and tags"): a version tag is the
 * semver with `+` written as `_` (tags are `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`); the floating
 * tags `M.m`, `M` and `latest` follow the highest version without a pre-release part of their line.
 */
// Two functions of semver, not its entry point: every run validates a version, and ranges are a registry's business.
import type { SemVer } from 'semver';
import gte from 'semver/functions/gte.js';
import parse from 'semver/functions/parse.js';
import { EbpmError } from '../core/errors.js';

/** `isSemver` is true for a semantic version written exactly as semver 2.0.0 spells it (no `v`, no spaces). */
export function isSemver(v: string): boolean {
  const p = parse(v);
  return p !== null && (p.build.length ? `${p.version}+${p.build.join('.')}` : p.version) === v;
}

/** `versionTag` is the tag of a package version: `1.2.0+build.5` → `1.2.0_build.5`. */
export function versionTag(version: string): string {
  if (!isSemver(version)) {
    throw new EbpmError('INVALID_VERSION', `"${version}" is not a semantic version`, { hint: 'versions look like 1.2.0 or 2.0.0-rc.1' });
  }
  return version.replace(/\+/g, '_');
}

/** `tagVersion` reads a tag back as a version, or undefined when the tag is not a version tag. */
export function tagVersion(tag: string): string | undefined {
  const v = tag.replace(/_/g, '+');
  return isSemver(v) ? v : undefined;
}

/**
 * `floatingTags` are the tags a push of `version` moves to it, given the repository's existing
 * `tags`: `M.m`, `M` and `latest` (in that order), each when `version` is stable and no lower than
 * every stable version of its line (`M.m.*`, `M.*.*`, all). Pre-releases move none, and tags
 * that are not versions (the floating tags themselves) do not count.
 */
export function floatingTags(version: string, tags: readonly string[]): string[] {
  const p = parse(version);
  if (p === null || p.prerelease.length > 0) return [];
  const lines: [string, (v: SemVer) => boolean][] = [
    [`${p.major}.${p.minor}`, (v) => v.major === p.major && v.minor === p.minor],
    [`${p.major}`, (v) => v.major === p.major],
    ['latest', () => true],
  ];
  const stable = tags.flatMap((t) => {
    const v = parse(tagVersion(t) ?? '');
    return v !== null && v.prerelease.length === 0 ? [v] : [];
  });
  return lines.filter(([, inLine]) => stable.every((v) => !inLine(v) || gte(p, v))).map(([tag]) => tag);
}

/** `movesLatest` tells whether pushing `version` points `latest` at it (see `floatingTags`). */
export function movesLatest(version: string, tags: readonly string[]): boolean {
  return floatingTags(version, tags).includes('latest');
}
