/**
 * Versions and tags (registry-spec/package-v1.md §"Versions and tags"): a version tag is the
 * semver with `+` written as `_` (tags are `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`), and `latest`
 * follows the highest version without a pre-release part.
 */
import semver from 'semver';
import { EbpmError } from '../core/errors.js';

/** `isSemver` is true for a semantic version written exactly as semver 2.0.0 spells it (no `v`, no spaces). */
export function isSemver(v: string): boolean {
  const p = semver.parse(v);
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
 * `movesLatest` tells whether pushing `version` should point `latest` at it: it is stable
 * and higher than every stable version among `tags` (the repository's existing tags).
 */
export function movesLatest(version: string, tags: readonly string[]): boolean {
  if (semver.prerelease(version) !== null) return false;
  return tags.every((t) => {
    const v = tagVersion(t);
    return v === undefined || semver.prerelease(v) !== null || semver.gte(version, v);
  });
}
