/**
 * The embedded default registry: a directory holding one OCI image layout per repository,
 * `<root>/<namespace>/<name>/_layout/{oci-layout,index.json,blobs/}`. It offers what a remote
 * registry offers ebpm (a `Target` per repository with tag listing, deleting and referrers, plus
 * the catalog), so push, pull and search run the same code against it as against a server.
 * `_layout` cannot be a repository path component (components start with `[a-z0-9]`), so a
 * repository and the repositories below it never collide. Each layout is readable by skopeo:
 * `skopeo copy oci:<root>/acme/sigsnoop/_layout:1.2.0 …`.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EbpmError, isCode } from '../core/errors.js';
import type { Descriptor } from '../core/oci.js';
import type { Content, Deleter, ReferrerLister, TagLister, Target, Untagger } from '../content/storage.js';
import { LAYOUT_FILE, OciLayout } from './layout.js';

/** `LAYOUT_DIR` is the directory of a repository that holds its layout. */
export const LAYOUT_DIR = '_layout';

// distribution-spec v1.1.1 `<name>`: checked here too, as the name becomes a path.
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/** `LocalRegistry` is the embedded registry rooted at a directory; `host` is how references name it. */
export class LocalRegistry {
  constructor(
    readonly host: string,
    readonly root: string,
  ) {}

  /** `repository` opens `name` (nothing is created until something is pushed). Bad names are `NAME_INVALID`. */
  repository(name: string): LocalRepository {
    if (!NAME.test(name) || name.length > 255) {
      throw new EbpmError('NAME_INVALID', `${this.host}: invalid repository name ${JSON.stringify(name.slice(0, 200))}`, {
        hint: 'names are lower-case letters and digits, separated by ".", "_", "__", "-" or "/"',
        data: { host: this.host, name },
      });
    }
    return new LocalRepository(this.host, name, join(this.root, ...name.split('/'), LAYOUT_DIR));
  }

  /** `catalog` lists every repository holding a layout, sorted (what `GET /v2/_catalog` gives). */
  async catalog(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string[]): Promise<void> => {
      const names = await readdir(dir).catch(() => [] as string[]);
      if (prefix.length > 0 && names.includes(LAYOUT_DIR) && (await isFile(join(dir, LAYOUT_DIR, LAYOUT_FILE)))) out.push(prefix.join('/'));
      for (const n of names) {
        if (n === LAYOUT_DIR || !/^[a-z0-9]/.test(n)) continue;
        if ((await stat(join(dir, n)).catch(() => undefined))?.isDirectory()) await walk(join(dir, n), [...prefix, n]);
      }
    };
    await walk(this.root, []);
    return out.sort();
  }
}

/**
 * `LocalRepository` is one repository of the embedded registry: the `OciLayout` at `path`,
 * opened on first use. Reading a repository nobody pushed to behaves as the registry client
 * does: tag listing and resolving are `NOT_FOUND`, `exists` is false.
 */
export class LocalRepository implements Target, TagLister, Deleter, Untagger, ReferrerLister {
  private layout: Promise<OciLayout> | undefined;

  constructor(
    readonly host: string,
    readonly name: string,
    readonly path: string,
  ) {}

  private async open(create: boolean): Promise<OciLayout | undefined> {
    if (this.layout === undefined) {
      if (!create && !(await isFile(join(this.path, LAYOUT_FILE)))) return undefined;
      this.layout = OciLayout.open(this.path);
      this.layout.catch(() => (this.layout = undefined));
    }
    return this.layout;
  }

  private async existing(): Promise<OciLayout> {
    const layout = await this.open(false);
    if (layout === undefined) {
      throw new EbpmError('NOT_FOUND', `${this.host}: repository ${this.name} not found`, {
        hint: `no such repository on ${this.host}; check the name, or push to create it`,
        data: { host: this.host, name: this.name },
      });
    }
    return layout;
  }

  async fetch(desc: Descriptor, signal?: AbortSignal): Promise<Content> {
    return (await this.existing()).fetch(desc).catch((e: unknown) => {
      signal?.throwIfAborted();
      throw e;
    });
  }

  async exists(desc: Descriptor): Promise<boolean> {
    const layout = await this.open(false);
    return layout === undefined ? false : layout.exists(desc);
  }

  async push(expected: Descriptor, content: Content, signal?: AbortSignal): Promise<void> {
    await (await this.open(true))!.push(expected, content, signal);
  }

  async resolve(ref: string): Promise<Descriptor> {
    const layout = await this.open(false);
    if (layout === undefined) {
      throw new EbpmError('NOT_FOUND', `${this.host}/${this.name}:${ref}: not found`, {
        hint: `no such repository on ${this.host}; check the name, or push to create it`,
        data: { ref },
      });
    }
    // The layout's own NOT_FOUND speaks of the local store; here it is a tag the repository lacks.
    const d = await layout.resolve(ref).catch((e: unknown) => {
      if (!isCode(e, 'NOT_FOUND')) throw e;
      throw new EbpmError('NOT_FOUND', `${this.host}/${this.name}:${ref}: not found`, {
        hint: `${this.host}/${this.name} has no tag ${ref}; check the version, or push it`,
        data: { ref },
      });
    });
    // Like a registry, answer the manifest's own descriptor, not the index entry's annotations.
    const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (d.artifactType !== undefined) out.artifactType = d.artifactType;
    return out;
  }

  async tag(desc: Descriptor, ref: string): Promise<void> {
    await (await this.open(true))!.tag(desc, ref);
  }

  async untag(ref: string): Promise<void> {
    await (await this.existing()).untag(ref);
  }

  async tags(): Promise<string[]> {
    return (await this.existing()).tags();
  }

  async delete(desc: Descriptor): Promise<void> {
    await (await this.existing()).delete(desc);
  }

  async referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    const layout = await this.open(false);
    return layout === undefined ? [] : layout.referrers(subject, artifactType);
  }
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}
