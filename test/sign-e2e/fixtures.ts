// Shared by the signing and trust tests: small packages pushed through the content
// interfaces, keys made once per file, and policy files in temp directories.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushBytes, type Pusher, type Tagger } from '../../src/content/storage.js';
import { MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes, type Descriptor, type ImageManifest } from '../../src/core/oci.js';
import { keyFingerprint, keyHint, readPrivateKey, readPublicKey, type SigningKey, type TrustedKey } from '../../src/sign/keys.js';
import { loadPolicy } from '../../src/sign/policy-file.js';
import type { TrustPolicy } from '../../src/sign/policy.js';

export const PACKAGE_TYPE = 'application/vnd.ebpm.test.package.v1';
export const LAYER_TYPE = 'application/vnd.ebpm.test.object.v1';

/** `TestPackage` is a package pushed by `pushPackage`: its manifest and what it is made of. */
export interface TestPackage {
  readonly manifest: Descriptor;
  readonly config: Uint8Array;
  readonly layer: Uint8Array;
}

/** `pushPackage` pushes a one-layer package (config, layer, manifest) and tags it `tag`. */
export async function pushPackage(
  target: Pusher & Tagger,
  tag: string,
  layer: Uint8Array,
  config: Uint8Array = new TextEncoder().encode('{"name":"pkg"}'),
): Promise<TestPackage> {
  const c = await pushBytes(target, 'application/vnd.ebpm.test.config.v1+json', config);
  const l = await pushBytes(target, LAYER_TYPE, layer);
  const m: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, artifactType: PACKAGE_TYPE, config: c, layers: [l] };
  const manifest = await pushBytes(target, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes(m));
  await target.tag(manifest, tag);
  return { manifest, config, layer };
}

/**
 * `plainKey` makes a key quickly (PKCS#8, no scrypt). A P-384 key is assembled by hand, since
 * `readPrivateKey` rightly refuses it: the tests sign with one to prove verifiers refuse it too.
 */
export async function plainKey(curve: 'prime256v1' | 'secp384r1' = 'prime256v1'): Promise<{ key: SigningKey; privatePem: string; publicPem: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const privatePem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
  if (curve === 'prime256v1') return { key: await readPrivateKey(privatePem, ''), privatePem, publicPem };
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { key: { privateKey, publicKey: { key: publicKey, spki, hint: keyHint(spki), fingerprint: keyFingerprint(spki) } }, privatePem, publicPem };
}

/** `trusted` labels a signing key's public half. */
export function trusted(label: string, key: SigningKey): TrustedKey {
  return { label, publicKey: readPublicKey(key.publicKey.key.export({ format: 'pem', type: 'spki' }) as string) };
}

/** `tempDir` makes a directory under the suite's temp root. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), prefix));
}

/**
 * `writePolicy` writes a policy file (and its keys as `<label>.pub` beside it) and returns its
 * path and the parsed policy.
 */
export function writePolicy(
  dir: string,
  keys: Record<string, string>,
  scopes: Record<string, { require: string; keys?: string[] }>,
): { path: string; policy: TrustPolicy } {
  const keyDoc: Record<string, { path: string }> = {};
  for (const [label, pem] of Object.entries(keys)) {
    writeFileSync(join(dir, `${label}.pub`), pem);
    keyDoc[label] = { path: `${label}.pub` };
  }
  const path = join(dir, 'trust-policy.json');
  writeFileSync(path, JSON.stringify({ version: 1, keys: keyDoc, scopes }, null, 2));
  return { path, policy: loadPolicy(path) };
}
