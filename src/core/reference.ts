import semver from 'semver';
import { digestProblem, type Digest } from './digest.js';
import { EbpmError } from './errors.js';

/**
 * References name a package in a registry:
 *
 *   [registry[:port]/][namespace/]name[:tag][@sha256:<hex>]   a tag and/or a digest
 *   [registry[:port]/][namespace/]name@<semver range>         e.g. sigsnoop@1.2, ghcr.io/x/y@~2.1
 *   [registry[:port]/][namespace/]name@latest                 the highest release (no pre-release), as npm
 *
 * After `@`, a digest is anything of the form `<algorithm>:<encoded>`; everything else must be an
 * npm semver range. Names follow the distribution-spec v1.1.1 `<name>` regex and tags its tag
 * grammar; as OCI tags cannot hold `+`, a semver version's build metadata travels as `_`
 * (Helm's convention, helm/helm#10166).
 */
export interface Reference {
  /** `host[:port]` */
  readonly registry: string;
  /** `namespace/name` */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
  /** A semver range, or `LATEST_RELEASE`, to resolve against the repository's tags (never with `tag` or `digest`). */
  readonly range?: string;
}

/**
 * `LATEST_RELEASE` is the range `name@latest`: the highest version without a pre-release part by
 * semver, whatever the `latest` tag says and whatever `--prerelease` asks (npm's `latest`).
 */
export const LATEST_RELEASE = 'latest';

/** Where short names go: the caller looks these up (config, `EBPM_REGISTRY`). */
export interface ReferenceDefaults {
  readonly registry?: string;
  /** Prefixed to one-component names (`sigsnoop` → `<namespace>/sigsnoop`). */
  readonly namespace?: string;
}

// distribution-spec v1.1.1 §"Pulling manifests": <name> and the tag grammar.
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const HOST = new RegExp(`^(?:\\[[0-9a-fA-F:.]+\\]|${LABEL}(?:\\.${LABEL})*)(?::[0-9]{1,5})?$`);
/** Many registries and clients cap `host/name` at 255 characters (distribution-spec note). */
const MAX_NAME = 255;

function invalid(input: string, problem: string, hint: string): EbpmError {
  return new EbpmError('INVALID_REFERENCE', `invalid reference ${JSON.stringify(input.slice(0, 300))}: ${problem}`, {
    hint,
    data: { reference: input, problem },
  });
}

const FORM_HINT = 'write [registry/][namespace/]name[:tag][@sha256:<digest>] or name@<semver range>, e.g. ghcr.io/acme/sigsnoop:1.2.0 or sigsnoop@^1.2';

/** A first path component names a registry when it looks like a host (Docker's rule). */
function isHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[');
}

/**
 * `parseReference` parses `input` (see `Reference`), filling a missing registry and namespace
 * from `defaults`. Throws `INVALID_REFERENCE` with what is wrong and a hint.
 */
export function parseReference(input: string, defaults: ReferenceDefaults = {}): Reference {
  if (input.length === 0) throw invalid(input, 'empty', FORM_HINT);
  const at = input.indexOf('@');
  const left = at < 0 ? input : input.slice(0, at);
  const after = at < 0 ? undefined : input.slice(at + 1);
  // Only a range may hold spaces (`>=1.2 <2`).
  if (/\s/.test(left)) throw invalid(input, 'contains white space', FORM_HINT);

  const slash = left.indexOf('/');
  const first = slash < 0 ? '' : left.slice(0, slash);
  let registry: string | undefined;
  let rest = left;
  if (slash >= 0 && isHost(first)) {
    registry = first;
    rest = left.slice(slash + 1);
    if (!HOST.test(registry))
      throw invalid(input, `bad registry host ${JSON.stringify(registry)}`, 'a registry is host[:port], e.g. ghcr.io or 127.0.0.1:5000');
  }
  const colon = rest.lastIndexOf(':');
  let name = colon > rest.lastIndexOf('/') ? rest.slice(0, colon) : rest;
  let tag = colon > rest.lastIndexOf('/') ? rest.slice(colon + 1) : undefined;

  if (name.length === 0) throw invalid(input, 'missing name', FORM_HINT);
  if (!NAME.test(name)) {
    throw invalid(input, `bad name ${JSON.stringify(name)}`, 'names are lower-case letters and digits, separated by ".", "_", "__", "-" or "/"');
  }
  if (registry === undefined) {
    registry = defaults.registry;
    if (registry === undefined) throw invalid(input, 'no registry', 'write registry/name, or set a default registry (EBPM_REGISTRY or the config file)');
    if (defaults.namespace && !name.includes('/')) name = `${defaults.namespace}/${name}`;
  }
  if (registry.length + 1 + name.length > MAX_NAME) throw invalid(input, `registry and name longer than ${MAX_NAME} characters`, 'use a shorter name');

  if (tag !== undefined) {
    if (tag.includes('+')) {
      // A version with build metadata: store it the way it is pushed.
      if (semver.valid(tag) === null)
        throw invalid(input, `bad tag ${JSON.stringify(tag)}`, 'a tag may hold "+" only as semver build metadata, e.g. 1.2.3+build.7');
      tag = versionToTag(tag);
    }
    if (!TAG.test(tag)) throw invalid(input, `bad tag ${JSON.stringify(tag)}`, 'tags are up to 128 of [A-Za-z0-9_.-] and do not start with "." or "-"');
  }

  if (after === undefined) return tag === undefined ? { registry, repository: name } : { registry, repository: name, tag };
  if (after.includes(':')) {
    const problem = digestProblem(after);
    if (problem !== undefined) throw invalid(input, `bad digest ${JSON.stringify(after)}: ${problem}`, 'a digest looks like sha256:<64 lowercase hex digits>');
    return tag === undefined ? { registry, repository: name, digest: after } : { registry, repository: name, tag, digest: after };
  }
  if (after.length === 0) throw invalid(input, 'nothing after "@"', FORM_HINT);
  if (after.trim() !== after) throw invalid(input, `bad version range ${JSON.stringify(after)}`, 'remove the spaces around the range');
  if (tag !== undefined) throw invalid(input, 'both a tag and a version range', 'write either name:tag or name@<range>');
  if (after === LATEST_RELEASE) return { registry, repository: name, range: LATEST_RELEASE };
  if (semver.validRange(after) === null) {
    throw invalid(
      input,
      `bad version range ${JSON.stringify(after)}`,
      'after "@" write a digest, latest, or a semver range such as 1.2, ^1, ~2.1 or ">=1.2 <2"; use name:tag for a plain tag',
    );
  }
  return { registry, repository: name, range: after };
}

/** `isTag` tells whether `s` is a tag by the distribution-spec's grammar (up to 128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`). */
export function isTag(s: string): boolean {
  return TAG.test(s);
}

/** `formatReference` writes a reference back in the form `parseReference` reads. */
export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  else if (ref.range !== undefined) s += `@${ref.range}`;
  return s;
}

/** `versionToTag` turns a semver version into a valid OCI tag (`1.2.3+b.7` → `1.2.3_b.7`). */
export function versionToTag(version: string): string {
  return version.replaceAll('+', '_');
}

/**
 * `tagToVersion` reads a tag as a semver version (`1.2.3_b.7` → `1.2.3+b.7`; a leading `v` is
 * accepted, as npm does), or `undefined` if it is not one.
 */
export function tagToVersion(tag: string): string | undefined {
  const v = tag.replaceAll('_', '+');
  return semver.valid(v) === null ? undefined : v;
}

export interface PickOptions {
  /** Let pre-releases satisfy any range, not only ranges that name one (npm's flag). */
  readonly includePrerelease?: boolean;
}

/**
 * `pickVersion` chooses the tag to pull, keeping the tag string as the registry spells it:
 * with a range, the highest version satisfying it (npm semver semantics; `LATEST_RELEASE`, the
 * highest version without a pre-release part); without one, `latest`
 * if that tag exists, else the highest stable version (any version with `includePrerelease`).
 * Returns `undefined` when nothing fits. Equal versions (`v1.0.0`, `1.0.0`) are ordered by
 * build metadata, then by tag string, so the choice never depends on listing order.
 */
export function pickVersion(tags: readonly string[], range: string | undefined, opts: PickOptions = {}): string | undefined {
  if (range === undefined && tags.includes('latest')) return 'latest';
  const release = range === LATEST_RELEASE;
  const includePrerelease = !release && (opts.includePrerelease ?? false);
  const wanted = range === undefined || release ? '*' : range;
  let best: { tag: string; version: string } | undefined;
  for (const tag of tags) {
    const version = tagToVersion(tag);
    if (version === undefined || !(semver.satisfies(version, wanted, { includePrerelease }) || preReleasePrefix(version, wanted))) continue;
    if (best === undefined) {
      best = { tag, version };
      continue;
    }
    if (compareVersionTags(tag, best.tag) > 0) best = { tag, version };
  }
  return best?.tag;
}

/**
 * `preReleasePrefix` lets a range that is one pre-release version stand for the series it starts,
 * as an X-range does for releases: `2.0.0-rc` matches `2.0.0-rc`, `2.0.0-rc.1`, `2.0.0-rc.3.1`.
 * Strict semver alone would match only `2.0.0-rc` itself.
 */
function preReleasePrefix(version: string, range: string): boolean {
  const want = semver.parse(range);
  const have = semver.parse(version);
  if (want === null || have === null || want.prerelease.length === 0) return false;
  if (have.major !== want.major || have.minor !== want.minor || have.patch !== want.patch) return false;
  return want.prerelease.every((id, i) => have.prerelease[i] === id);
}

/** `compareVersionTags` orders version tags (`tagToVersion` holds for both) by semver, build metadata included, then by tag string. */
export function compareVersionTags(a: string, b: string): number {
  return semver.compareBuild(tagToVersion(a)!, tagToVersion(b)!) || (a > b ? 1 : a < b ? -1 : 0);
}
