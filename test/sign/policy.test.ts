import { createPublicKey } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readPublicKey } from '../../src/sign/keys.js';
import { loadEnvPolicy, loadPolicy, policyPath } from '../../src/sign/policy-file.js';
import { ebpm, sandbox } from '../cli/helpers.js';
import {
  DEFAULT_POLICY,
  evaluate,
  isRecordCurrent,
  keylessFor,
  LOCAL_SCOPE,
  parsePolicy,
  scopeFor,
  trustedKeysFor,
  type TrustPolicy,
} from '../../src/sign/policy.js';
import { canonicalJson } from '../../src/core/json.js';
import { sha256Digest } from '../../src/core/digest.js';
import type { Verification } from '../../src/sign/verify.js';
import { caught, fixture } from './helpers.js';

const DIGEST = 'sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6';
const NOW = new Date('2026-11-25T05:00:00.000Z');
const ACME_PUB = fixture('sigstore-js-key-1.pub');
const LAB_PUB = fixture('sigstore-ecdsa.pub');
/** The public half of cosign's validecp384 vector. */
const P384_PUB = createPublicKey(fixture('cosign-validecp384.key')).export({ format: 'pem', type: 'spki' }) as string;
const acme = readPublicKey(ACME_PUB);
const lab = readPublicKey(LAB_PUB);

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const files =
  (map: Record<string, string>) =>
  (path: string): string => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
    return text;
  };

/** The example of registry-spec/trust-policy.md, so the documentation cannot drift from the parser. */
const DOC = readFileSync(new URL('../../registry-spec/trust-policy.md', import.meta.url), 'utf8');
const EXAMPLE = /Example:\n\n```json\n([\s\S]*?)\n```/.exec(DOC)![1]!;
const example = (): TrustPolicy => parsePolicy(enc(EXAMPLE), 'trust-policy.json', files({ 'keys/acme-release.pub': ACME_PUB }));

const signedBy = (fingerprint: string, keyLabel = 'whatever'): Verification => ({
  verified: true,
  digest: DIGEST,
  signedBy: [{ format: 'bundle', digest: DIGEST, keyLabel, fingerprint }],
  rejected: [],
});
const unsigned: Verification = { verified: false, digest: DIGEST, reason: 'no-signature', detail: `${DIGEST} has no signature`, rejected: [] };

describe('the documented example', () => {
  it('parses, with its keys loaded', () => {
    const p = example();
    expect(p.scopes.map((s) => [s.pattern, s.require, s.keys.map((k) => k.label)])).toEqual([
      ['*', 'warn', []],
      ['ghcr.io/acme', 'require-signature', ['acme-release']],
      ['ghcr.io/acme/experimental', 'warn', ['acme-release', 'lab-ci']],
      ['localhost:5000', 'none', []],
      ['local', 'warn', ['lab-ci']],
    ]);
    expect(trustedKeysFor(p, 'ghcr.io/acme/sigsnoop').map((k) => k.publicKey.fingerprint)).toEqual([acme.fingerprint]);
    expect(trustedKeysFor(p, 'ghcr.io/acme/experimental/x').map((k) => k.publicKey.fingerprint)).toEqual([acme.fingerprint, lab.fingerprint]);
  });

  it('matches the most specific scope: registry/ns/name > registry/ns > registry > *', () => {
    const p = parsePolicy(
      enc(
        JSON.stringify({
          version: 1,
          keys: { a: { pem: ACME_PUB } },
          scopes: {
            'ghcr.io': { require: 'none' },
            'ghcr.io/acme': { require: 'warn' },
            'ghcr.io/acme/sigsnoop': { require: 'require-signature', keys: ['a'] },
          },
        }),
      ),
      'p.json',
      files({}),
    );
    const table = [
      'ghcr.io/acme/sigsnoop',
      'ghcr.io/acme/sigsnoop/sub',
      'ghcr.io/acme/other',
      'ghcr.io/acme',
      'ghcr.io/acmecorp/x',
      'ghcr.io/x',
      'docker.io/library/x',
      'localhost:5000/ghcr.io/acme',
    ];
    expect(table.map((r) => [r, scopeFor(p, r).pattern])).toEqual([
      ['ghcr.io/acme/sigsnoop', 'ghcr.io/acme/sigsnoop'],
      ['ghcr.io/acme/sigsnoop/sub', 'ghcr.io/acme/sigsnoop'],
      ['ghcr.io/acme/other', 'ghcr.io/acme'],
      ['ghcr.io/acme', 'ghcr.io/acme'],
      ['ghcr.io/acmecorp/x', 'ghcr.io'],
      ['ghcr.io/x', 'ghcr.io'],
      ['docker.io/library/x', '*'],
      ['localhost:5000/ghcr.io/acme', '*'],
    ]);
    expect(scopeFor(p, 'docker.io/library/x').require).toBe('warn');
  });

  it('matches local paths (LOCAL_SCOPE) by the local scope only, else by *; the default policy runs them quietly', () => {
    const parse = (scopes: object) => parsePolicy(enc(JSON.stringify({ version: 1, scopes })), 'p.json', files({}));
    const own = parse({ '*': { require: 'warn' }, local: { require: 'none' }, 'local:5000': { require: 'warn' }, 'docker.io': { require: 'warn' } });
    expect([LOCAL_SCOPE, 'docker.io/local/x', 'local:5000/x'].map((r) => scopeFor(own, r).pattern)).toEqual(['local', 'docker.io', 'local:5000']);
    expect(scopeFor(parse({ '*': { require: 'none' }, 'localhost:5000': { require: 'warn' } }), LOCAL_SCOPE).pattern).toBe('*');
    expect([scopeFor(DEFAULT_POLICY, LOCAL_SCOPE).require, scopeFor(DEFAULT_POLICY, 'ghcr.io/acme/x').require]).toEqual(['none', 'warn']);
    expect(evaluate(DEFAULT_POLICY, LOCAL_SCOPE, unsigned, NOW, './out').message).toBe('');
    expect(evaluate(own, LOCAL_SCOPE, unsigned, NOW, './x.bpf.o')).toMatchObject({ allow: true, warn: false, reason: 'not-required' });
    const warned = evaluate(parse({ '*': { require: 'warn' } }), LOCAL_SCOPE, unsigned, NOW, './x.bpf.o');
    expect([warned.warn, warned.message]).toEqual([true, './x.bpf.o: not signed (warn by the default scope in p.json)']);
  });
});

describe('validation', () => {
  it('lists every bad field at once', async () => {
    const doc = {
      version: 2,
      extra: true,
      keys: {
        'bad label!': { pem: ACME_PUB },
        both: { pem: ACME_PUB, path: 'k.pub' },
        missing: { path: 'nope.pub' },
        p384: { pem: P384_PUB },
        ok: { pem: ACME_PUB, comment: 'x' },
      },
      scopes: {
        'ghcr.io/Acme': { require: 'warn' },
        'https://ghcr.io': { require: 'warn' },
        'local/acme': { require: 'none' },
        'ghcr.io/a': { require: 'always', keys: ['ok', 'ok', 'ghost', 7] },
        'ghcr.io/b': { require: 'require-signature', typo: 1 },
        'ghcr.io/c': 'warn',
      },
    };
    const e = await caught(() => parsePolicy(enc(JSON.stringify(doc)), '/etc/ebpm/trust-policy.json', files({})));
    expect(e.code).toBe('POLICY_INVALID');
    expect(e.data?.fields).toEqual([
      'extra: unknown field',
      'version: must be 1',
      'keys["bad label!"]: label must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
      'keys["both"]: needs exactly one of path, pem',
      'keys["missing"].path: cannot read nope.pub: ENOENT',
      'keys["p384"].pem: ecdsa curve secp384r1 is not supported',
      'keys["ok"].comment: unknown field',
      'scopes["ghcr.io/Acme"]: pattern component "Acme" is not a valid repository name component',
      'scopes["https://ghcr.io"]: pattern must be "*", "local" or registry[/namespace…[/name]]',
      'scopes["local/acme"]: "local" is reserved for local paths: it has no repositories',
      'scopes["ghcr.io/a"].require: must be one of require-signature, warn, none',
      'scopes["ghcr.io/a"].keys[1]: "ok" is listed twice',
      'scopes["ghcr.io/a"].keys[2]: no key labelled "ghost" in keys',
      'scopes["ghcr.io/a"].keys[3]: not a string',
      'scopes["ghcr.io/b"].typo: unknown field',
      'scopes["ghcr.io/b"].keys: require-signature needs at least one key or identity',
      'scopes["ghcr.io/c"]: not an object',
    ]);
    expect(e.message.startsWith('trust policy /etc/ebpm/trust-policy.json: extra: unknown field; version: must be 1; ')).toBe(true);
  });

  it.each([
    ['not json', '{'],
    ['an array', '[]'],
    ['no scopes', '{"version":1}'],
  ])('refuses %s', async (_what, text) => {
    expect((await caught(() => parsePolicy(enc(text), 'p.json', files({})))).code).toBe('POLICY_INVALID');
  });

  it('matches the schema on the requirement names', () => {
    const schema = JSON.parse(readFileSync(new URL('../../registry-spec/schemas/trust-policy.schema.json', import.meta.url), 'utf8'));
    expect(schema.properties.scopes.additionalProperties.properties.require.enum).toEqual(['require-signature', 'warn', 'none']);
    expect(Object.keys(schema.properties)).toEqual(['version', 'keys', 'trustedRoots', 'scopes']);
  });
});

describe('evaluate', () => {
  const p = example();

  it('allows a package signed by a key of its scope, and records why', () => {
    const d = evaluate(p, 'ghcr.io/acme/sigsnoop', signedBy(acme.fingerprint), NOW);
    const key = { label: 'acme-release', fingerprint: acme.fingerprint, format: 'bundle' };
    expect(d).toEqual({
      allow: true,
      level: 'require-signature',
      reason: 'signed',
      key,
      warn: false,
      message: '',
      record: {
        policyDigest: p.digest,
        scope: 'ghcr.io/acme',
        level: 'require-signature',
        digest: DIGEST,
        allow: true,
        reason: 'signed',
        key,
        checkedAt: '2026-11-25T05:00:00.000Z',
      },
    });
  });

  it('refuses an unsigned package under require-signature, in one line', () => {
    const d = evaluate(p, 'ghcr.io/acme/sigsnoop', unsigned, NOW);
    expect([d.allow, d.reason, d.warn]).toEqual([false, 'no-signature', false]);
    expect(d.message).toBe(`ghcr.io/acme/sigsnoop@${DIGEST}: not signed (require-signature by scope ghcr.io/acme in trust-policy.json)`);
  });

  it('counts only keys of the scope: lab-ci signing a ghcr.io/acme package is untrusted there', () => {
    const d = evaluate(p, 'ghcr.io/acme/sigsnoop', signedBy(lab.fingerprint), NOW);
    expect([d.allow, d.reason, d.key]).toEqual([false, 'untrusted-key', undefined]);
    expect(evaluate(p, 'ghcr.io/acme/experimental/x', signedBy(lab.fingerprint), NOW).key?.label).toBe('lab-ci');
  });

  it('warns but allows under warn', () => {
    const v: Verification = { verified: false, digest: DIGEST, reason: 'untrusted-key', detail: 'legacy signature: no trusted keys', rejected: [] };
    const d = evaluate(p, 'docker.io/acme/x', v, NOW);
    expect([d.allow, d.level, d.reason, d.warn]).toEqual([true, 'warn', 'untrusted-key', true]);
    expect(d.message).toBe(
      `docker.io/acme/x@${DIGEST}: signed, but not by a trusted key: legacy signature: no trusted keys (warn by the default scope in trust-policy.json)`,
    );
  });

  it('says nothing under none', () => {
    const d = evaluate(p, 'localhost:5000/acme/sigsnoop', unsigned, NOW);
    expect([d.allow, d.level, d.reason, d.warn, d.message]).toEqual([true, 'none', 'not-required', false, '']);
  });

  it('warns for everything under the default policy (no policy file)', () => {
    const d = evaluate(DEFAULT_POLICY, 'ghcr.io/acme/sigsnoop', unsigned, NOW);
    expect([d.allow, d.level, d.reason, d.warn]).toEqual([true, 'warn', 'no-signature', true]);
    expect(d.message).toBe(`ghcr.io/acme/sigsnoop@${DIGEST}: not signed (warn by the built-in default policy)`);
  });
});

describe('policy digest and decision records', () => {
  const base = { version: 1, keys: { a: { path: '/k/a.pub' } }, scopes: { 'ghcr.io/acme': { require: 'require-signature', keys: ['a'] } } };
  const parse = (doc: unknown, keyFiles: Record<string, string> = { '/k/a.pub': ACME_PUB, '/other/a.pub': ACME_PUB, '/k/b.pub': LAB_PUB }): TrustPolicy =>
    parsePolicy(enc(typeof doc === 'string' ? doc : JSON.stringify(doc)), 'p.json', files(keyFiles));

  it('keeps the digest across formatting, key order, key file paths and an explicit default scope', () => {
    const p = parse(base);
    expect(parse(JSON.stringify(base, null, 4)).digest).toBe(p.digest);
    expect(parse({ ...base, keys: { a: { path: '/other/a.pub' } } }).digest).toBe(p.digest);
    expect(parse({ ...base, keys: { a: { pem: ACME_PUB } } }).digest).toBe(p.digest);
    expect(parse({ ...base, scopes: { '*': { require: 'warn' }, ...base.scopes } }).digest).toBe(p.digest);
    expect(p.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('changes the digest, and so invalidates records, when a requirement or a key changes', () => {
    const p = parse(base);
    const record = evaluate(p, 'ghcr.io/acme/x', signedBy(acme.fingerprint), NOW).record;
    expect(isRecordCurrent(record, parse(JSON.stringify(base, null, 2)))).toBe(true);
    expect(isRecordCurrent(record, parse({ ...base, scopes: { 'ghcr.io/acme': { require: 'warn', keys: ['a'] } } }))).toBe(false);
    expect(isRecordCurrent(record, parse(base, { '/k/a.pub': LAB_PUB }))).toBe(false);
    expect(isRecordCurrent(record, DEFAULT_POLICY)).toBe(false);
  });
});

describe('loading from disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpm-policy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('uses the default policy when the file does not exist', () => {
    expect(loadPolicy(join(dir, 'absent.json'))).toBe(DEFAULT_POLICY);
  });

  it('resolves relative key paths against the policy file directory', () => {
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'acme-release.pub'), ACME_PUB);
    writeFileSync(join(dir, 'trust-policy.json'), EXAMPLE);
    const p = loadPolicy(join(dir, 'trust-policy.json'));
    expect(p.digest).toBe(example().digest);
    expect(p.source).toBe(join(dir, 'trust-policy.json'));
  });

  it('says POLICY_UNREADABLE for a path it cannot read', async () => {
    const e = await caught(() => loadPolicy(dir));
    expect([e.code, e.message]).toEqual(['POLICY_UNREADABLE', `trust policy ${dir}: EISDIR`]);
  });

  it('fails closed when the path EBPM_TRUST_POLICY names does not exist: no fallback to the default', async () => {
    const missing = join(dir, 'trust-polcy.json');
    const e = await caught(() => loadEnvPolicy({ EBPM_TRUST_POLICY: missing, HOME: dir }));
    expect([e.code, e.message, e.hint]).toEqual([
      'TRUST_POLICY_NOT_FOUND',
      `trust policy ${missing}: no such file (EBPM_TRUST_POLICY)`,
      'fix the path in EBPM_TRUST_POLICY, or unset it to use ~/.config/ebpm/trust-policy.json (or the default policy when that is absent)',
    ]);
    // The default place may be missing: that is the built-in default policy.
    expect(loadEnvPolicy({ HOME: dir })).toBe(DEFAULT_POLICY);
  });

  it('exits 3 naming the path, before a local package is admitted', async () => {
    const box = sandbox();
    const missing = join(box.root, 'trust-polcy.json');
    const file = join(box.root, 'tool.bpf.o');
    writeFileSync(file, 'not read: the policy comes first');
    const hint = 'hint: fix the path in EBPM_TRUST_POLICY, or unset it to use ~/.config/ebpm/trust-policy.json (or the default policy when that is absent)\n';
    expect(await ebpm(['run', file], { ...box.env, EBPM_TRUST_POLICY: missing })).toEqual({
      code: 3,
      out: '',
      err: `error: ${file}: trust policy ${missing}: no such file (EBPM_TRUST_POLICY)\n${hint}`,
    });
  });

  it('finds the file from the environment', () => {
    expect(policyPath({ EBPM_TRUST_POLICY: '/p.json', XDG_CONFIG_HOME: '/x' })).toBe('/p.json');
    expect(policyPath({ XDG_CONFIG_HOME: '/x', HOME: '/h' })).toBe('/x/ebpm/trust-policy.json');
    expect(policyPath({ HOME: '/h' })).toBe('/h/.config/ebpm/trust-policy.json');
  });
});

describe('keyless identities', () => {
  const ROOT = JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', certificateAuthorities: [{}], tlogs: [] });
  const OTHER_ROOT = JSON.stringify({ certificateAuthorities: [{}, {}] });
  const WORKFLOW = 'https://github.com/acme/sigsnoop/.github/workflows/release.yml@refs/tags/v1.2.0';
  const GITHUB = 'https://token.actions.githubusercontent.com';
  const KEYLESS_EXAMPLE = /Keyless example:\n\n```json\n([\s\S]*?)\n```/.exec(DOC)![1]!;
  const parse = (doc: unknown, rootText = ROOT): TrustPolicy =>
    parsePolicy(enc(typeof doc === 'string' ? doc : JSON.stringify(doc)), 'p.json', files({ 'trusted_root.json': rootText, '/k/a.pub': ACME_PUB }));
  const keyless = (subject: string, issuer: string, keyLabel = 'public-good'): Verification => ({
    verified: true,
    digest: DIGEST,
    signedBy: [{ format: 'bundle', digest: DIGEST, keyLabel, fingerprint: '0123456789abcdef', identity: { subject, issuer } }],
    rejected: [],
  });

  it('parses the documented keyless example: the scope trusts the identity under its root', () => {
    const p = parse(KEYLESS_EXAMPLE);
    const scope = scopeFor(p, 'ghcr.io/acme/sigsnoop');
    expect([scope.require, scope.keys, scope.trustedRoot?.label, scope.trustedRoot?.digest]).toEqual([
      'require-signature',
      [],
      'public-good',
      sha256Digest(enc(ROOT)),
    ]);
    expect(scope.identities).toEqual([{ subjectRegExp: '^https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/tags/v', issuer: GITHUB }]);
    expect(keylessFor(p, 'ghcr.io/acme/sigsnoop')?.root.label).toBe('public-good');
    expect(keylessFor(p, 'docker.io/library/x')).toBeUndefined();
  });

  it('admits a matching identity under the scope root, and records it', () => {
    const d = evaluate(parse(KEYLESS_EXAMPLE), 'ghcr.io/acme/sigsnoop', keyless(WORKFLOW, GITHUB), NOW);
    const key = { label: 'public-good', fingerprint: '0123456789abcdef', format: 'bundle', identity: { subject: WORKFLOW, issuer: GITHUB } };
    expect([d.allow, d.reason, d.key, d.record.key]).toEqual([true, 'signed', key, key]);
  });

  it('does not count an identity of another scope or another root', () => {
    const p = parse(KEYLESS_EXAMPLE);
    expect(evaluate(p, 'ghcr.io/acme/sigsnoop', keyless('https://github.com/mallory/x/.github/workflows/release.yml@refs/tags/v1', GITHUB), NOW)).toMatchObject(
      {
        allow: false,
        reason: 'untrusted-key',
      },
    );
    expect(evaluate(p, 'ghcr.io/acme/sigsnoop', keyless(WORKFLOW, 'https://gitlab.com'), NOW).allow).toBe(false);
    expect(evaluate(p, 'ghcr.io/acme/sigsnoop', keyless(WORKFLOW, GITHUB, 'elsewhere'), NOW).allow).toBe(false);
  });

  it('lists every bad keyless field at once', async () => {
    const e = await caught(() =>
      parse({
        version: 1,
        trustedRoots: {
          good: { path: 'trusted_root.json' },
          gone: { path: 'missing.json' },
          bad: { path: '/k/a.pub' },
          odd: { path: 'trusted_root.json', pem: 'x' },
        },
        scopes: {
          'ghcr.io/a': { require: 'require-signature', identities: [{ subject: WORKFLOW, issuer: GITHUB }] },
          'ghcr.io/b': { require: 'warn', trustedRoot: 'good' },
          'ghcr.io/c': { require: 'warn', trustedRoot: 'nope', identities: [{ subject: WORKFLOW }, { subjectRegExp: '(', issuer: GITHUB, extra: 1 }, 'x'] },
          'ghcr.io/d': { require: 'require-signature', identities: [] },
        },
      }),
    );
    expect(e.code).toBe('POLICY_INVALID');
    expect(e.data?.fields).toEqual([
      'trustedRoots["gone"].path: cannot read missing.json: ENOENT',
      'trustedRoots["bad"].path: not a sigstore trusted root (a json object)',
      'trustedRoots["odd"].pem: unknown field',
      'scopes["ghcr.io/a"].trustedRoot: identities need a trusted root (a label in trustedRoots)',
      'scopes["ghcr.io/b"].identities: a trusted root without identities trusts no signer',
      'scopes["ghcr.io/c"].identities[0]: needs exactly one of issuer, issuerRegExp',
      'scopes["ghcr.io/c"].identities[1].extra: unknown field',
      'scopes["ghcr.io/c"].identities[1]: subjectRegExp: Invalid regular expression: /(/u: Unterminated group',
      'scopes["ghcr.io/c"].identities[2]: not an object',
      'scopes["ghcr.io/c"].trustedRoot: no trusted root labelled "nope" in trustedRoots',
      'scopes["ghcr.io/d"].keys: require-signature needs at least one key or identity',
    ]);
  });

  it('keeps the digest of a policy without keyless fields; the root and the identities change it', () => {
    const base = { version: 1, keys: { a: { path: '/k/a.pub' } }, scopes: { 'ghcr.io/acme': { require: 'require-signature', keys: ['a'] } } };
    const meaning = {
      version: 1,
      scopes: [
        { pattern: '*', require: 'warn', keys: [] },
        { pattern: 'ghcr.io/acme', require: 'require-signature', keys: [acme.hint] },
      ],
    };
    expect(parse(base).digest).toBe(sha256Digest(enc(canonicalJson(meaning))));
    const withIds = parse(KEYLESS_EXAMPLE);
    expect(parse(KEYLESS_EXAMPLE, OTHER_ROOT).digest).not.toBe(withIds.digest);
    expect(parse(KEYLESS_EXAMPLE.replace('"issuer": "https://token', '"issuer": "https://other')).digest).not.toBe(withIds.digest);
    expect(parse(JSON.stringify(JSON.parse(KEYLESS_EXAMPLE))).digest).toBe(withIds.digest);
  });
});
