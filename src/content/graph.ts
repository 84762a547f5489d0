import { isIndexType, isManifestType, parseIndex, parseManifest, type Descriptor } from '../core/oci.js';

/**
 * The manifest graph: an index points at manifests, a manifest at its config and layers, and a
 * manifest or index may name a `subject` (the weak OCI 1.1 referrer link, which is not a child).
 */

/** `isGraphNode` is true for descriptors whose content lists further descriptors. */
export function isGraphNode(desc: Pick<Descriptor, 'mediaType'>): boolean {
  return isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
}

/** `GraphNode` is what a node's bytes say about the graph below it. */
export interface GraphNode {
  readonly children: Descriptor[];
  readonly subject: Descriptor | undefined;
  /** `artifactType` as the referrers API reports it: `artifactType`, else the config media type. */
  readonly artifactType: string | undefined;
  readonly annotations: Record<string, string> | undefined;
}

const LEAF: GraphNode = Object.freeze({ children: [], subject: undefined, artifactType: undefined, annotations: undefined });

/**
 * `parseNode` reads the children of a manifest (config, then layers) or an index (its manifests)
 * from its verified bytes; any other media type is a leaf. Bad manifests throw `MANIFEST_INVALID`.
 */
export function parseNode(desc: Pick<Descriptor, 'mediaType'>, bytes: Uint8Array): GraphNode {
  if (isManifestType(desc.mediaType)) {
    const m = parseManifest(bytes, desc.mediaType);
    return { children: [m.config, ...m.layers], subject: m.subject, artifactType: m.artifactType ?? m.config.mediaType, annotations: m.annotations };
  }
  if (isIndexType(desc.mediaType)) {
    const i = parseIndex(bytes, desc.mediaType);
    return { children: i.manifests, subject: i.subject, artifactType: i.artifactType, annotations: i.annotations };
  }
  return LEAF;
}

/** `referrerDescriptor` is how a manifest appears in a referrers listing (distribution-spec v1.1.1 `#listing-referrers`). */
export function referrerDescriptor(desc: Descriptor, node: GraphNode): Descriptor {
  const out: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (node.artifactType !== undefined) out.artifactType = node.artifactType;
  if (node.annotations !== undefined) out.annotations = node.annotations;
  return out;
}
