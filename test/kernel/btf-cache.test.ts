import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { btfCache, btfCacheBase, btfCacheKey } from '../../src/kernel/btf-cache.js';
import { exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

describe('btfCacheBase', () => {
  it('is EBPM_BTF_CACHE, else /run/ebpm/btf for root, else under XDG_RUNTIME_DIR, else none', () => {
    expect(btfCacheBase({ EBPM_BTF_CACHE: '/x', XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/x');
    expect(btfCacheBase({ XDG_RUNTIME_DIR: '/run/user/0' }, 0)).toBe('/run/ebpm/btf');
    expect(btfCacheBase({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000/ebpm/btf');
    expect(btfCacheBase({}, 1000)).toBeUndefined();
  });
});

describeWith(['root', 'btf', 'clang'], 'btfCache', () => {
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  let root = '';
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ebpm-btfcache-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('fills the file of an object that missed, then finds it', async () => {
    const object = await exampleObject('sigsnoop');
    const cache = btfCache({ EBPM_BTF_CACHE: join(root, 'btf') }, 0)!;
    expect(cache.lookup(object)).toBeUndefined();
    cache.fill();
    const file = join(root, 'btf', boot, `${btfCacheKey(object)}.btf`);
    expect(existsSync(file)).toBe(true);
    expect(btfCache({ EBPM_BTF_CACHE: join(root, 'btf') }, 0)!.lookup(object)).toBe(file);
  });

  it('neither writes nor reads under a directory others may write that is not sticky', async () => {
    const object = await exampleObject('sigsnoop');
    const open = join(root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const env = { EBPM_BTF_CACHE: join(open, 'btf') };
    const cache = btfCache(env, 0)!;
    expect(cache.lookup(object)).toBeUndefined();
    cache.fill();
    expect(existsSync(join(open, 'btf', boot, `${btfCacheKey(object)}.btf`))).toBe(false);
    chmodSync(open, 0o755);
    cache.lookup(object);
    cache.fill();
    chmodSync(open, 0o777);
    expect(btfCache(env, 0)!.lookup(object)).toBeUndefined();
    chmodSync(open, 0o1777);
    expect(btfCache(env, 0)!.lookup(object)).toBe(join(open, 'btf', boot, `${btfCacheKey(object)}.btf`));
  });

  it('counts the directories a link on the way leads through, as well as those written', async () => {
    const object = await exampleObject('sigsnoop');
    const open = join(root, 'open');
    mkdirSync(join(open, 'real'), { recursive: true });
    chmodSync(open, 0o777);
    symlinkSync(join(open, 'real'), join(root, 'link'));
    const env = { EBPM_BTF_CACHE: join(root, 'link', 'btf') };
    const cache = btfCache(env, 0)!;
    expect(cache.lookup(object)).toBeUndefined();
    cache.fill();
    expect(existsSync(join(open, 'real', 'btf', boot, `${btfCacheKey(object)}.btf`))).toBe(false);
    chmodSync(open, 0o755);
    cache.lookup(object);
    cache.fill();
    expect(btfCache(env, 0)!.lookup(object)).toBe(join(root, 'link', 'btf', boot, `${btfCacheKey(object)}.btf`));
    chmodSync(open, 0o777);
    expect(btfCache(env, 0)!.lookup(object)).toBeUndefined();
  });

  it('neither finds nor writes anything for bytes that are not an object (a guest may load any)', () => {
    const cache = btfCache({ EBPM_BTF_CACHE: join(root, 'btf') }, 0)!;
    expect(cache.lookup(new TextEncoder().encode('not an object'))).toBeUndefined();
    cache.fill();
    expect(existsSync(join(root, 'btf'))).toBe(false);
  });
});
