import { isDigest } from '../core/digest.js';
import type { Descriptor } from '../core/oci.js';
import { isGraphNode, parseNode, referrerDescriptor } from './graph.js';
import { checkRef, notFound, type Content, type Deleter, type ReferrerLister, type TagLister, type Target, type Untagger } from './storage.js';
import { VerifiedContent } from './verify.js';

/**
 * `MemoryStore` holds content and tags in memory: the reference implementation of `Target`
 * (after oras-go `content/memory`), the test double, and where `ebpm build` assembles an artifact
 * before writing it out with `copy`.
 */
export class MemoryStore implements Target, Deleter, Untagger, TagLister, ReferrerLister {
  private readonly blobs = new Map<string, { desc: Descriptor; bytes: Uint8Array }>();
  private readonly refs = new Map<string, Descriptor>();

  async fetch(desc: Descriptor): Promise<Content> {
    return [this.bytes(desc)];
  }

  /** `bytes` returns held content synchronously (for tests and builders); throws `NOT_FOUND`. */
  bytes(desc: Pick<Descriptor, 'digest'>): Uint8Array {
    const held = this.blobs.get(desc.digest);
    if (held === undefined) throw notFound(desc.digest, { digest: desc.digest });
    return held.bytes;
  }

  async push(expected: Descriptor, content: Content, signal?: AbortSignal): Promise<void> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of VerifiedContent.of(expected, content, signal)) chunks.push(chunk);
    if (!this.blobs.has(expected.digest)) this.blobs.set(expected.digest, { desc: expected, bytes: Buffer.concat(chunks) });
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.blobs.has(desc.digest);
  }

  /** `resolve` takes a tag, or the digest of a held manifest or index. */
  async resolve(ref: string): Promise<Descriptor> {
    const tagged = this.refs.get(ref);
    if (tagged !== undefined) return tagged;
    const held = isDigest(ref) ? this.blobs.get(ref) : undefined;
    if (held === undefined || !isGraphNode(held.desc)) throw notFound(ref, { ref });
    return { mediaType: held.desc.mediaType, digest: held.desc.digest, size: held.desc.size };
  }

  async tag(desc: Descriptor, ref: string): Promise<void> {
    checkRef(ref);
    this.bytes(desc);
    this.refs.set(ref, desc);
  }

  async untag(ref: string): Promise<void> {
    if (!this.refs.delete(ref)) throw notFound(ref, { ref });
  }

  async tags(): Promise<string[]> {
    return [...this.refs.keys()].sort();
  }

  async delete(desc: Descriptor): Promise<void> {
    if (!this.blobs.delete(desc.digest)) throw notFound(desc.digest, { digest: desc.digest });
  }

  async referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const { desc, bytes } of this.blobs.values()) {
      if (!isGraphNode(desc)) continue;
      const node = parseNode(desc, bytes);
      if (node.subject?.digest !== subject.digest) continue;
      if (artifactType !== undefined && node.artifactType !== artifactType) continue;
      out.push(referrerDescriptor(desc, node));
    }
    return out.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }
}
