// The pure readers behind `ebpm build --btf-for`: raw BTF, a vmlinux's banner and .BTF, and the
// compressed payloads of a kernel image.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bannerRelease, compressedPayloads, isRawBtf, vmlinuxBtf } from '../../src/bpf/vmlinux.js';
import { exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

const text = (s: string) => new TextEncoder().encode(s);

describe('vmlinux readers', () => {
  it('bannerRelease skips format strings and takes the release up to the space', () => {
    expect(bannerRelease(text('\0Linux version %s (%s)\0Linux version 6.12.118+deb13-amd64 (debian-kernel@lists.debian.org) #1 SMP\n'))).toBe(
      '6.12.118+deb13-amd64',
    );
    expect(bannerRelease(text('Linux version 5.10.0-46-amd64'))).toBeUndefined();
    expect(bannerRelease(text('no banner here'))).toBeUndefined();
  });

  it('isRawBtf tells the magic 0xeb9f, little-endian, in a header-sized file', () => {
    const header = new Uint8Array(24);
    header.set([0x9f, 0xeb, 1, 0]);
    expect(isRawBtf(header)).toBe(true);
    expect(isRawBtf(header.subarray(0, 23))).toBe(false);
    expect(isRawBtf(new Uint8Array([0xeb, 0x9f, ...new Array(22).fill(0)]))).toBe(false);
  });

  it('compressedPayloads lists magics in extract-vmlinux order, then by offset', () => {
    const image = new Uint8Array(64);
    image.set([0x28, 0xb5, 0x2f, 0xfd], 4);
    image.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 20);
    image.set([0x1f, 0x8b, 0x08], 40);
    image.set([0x1f, 0x8b, 0x08], 50);
    expect(compressedPayloads(image)).toEqual([
      { offset: 40, compression: 'gzip' },
      { offset: 50, compression: 'gzip' },
      { offset: 20, compression: 'xz' },
      { offset: 4, compression: 'zstd' },
    ]);
  });
});

describeWith(['clang'], 'vmlinuxBtf', () => {
  it("reads any ELF's .BTF, and refuses an ELF without one and what is no ELF", async () => {
    const object = await exampleObject('sigsnoop');
    expect(isRawBtf(vmlinuxBtf(object).btf)).toBe(true);
    expect(vmlinuxBtf(object).release).toBeUndefined();
    const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'vmlinux-'));
    writeFileSync(join(dir, 'with.o'), object);
    execFileSync('llvm-objcopy', [
      '--remove-section=.BTF',
      '--remove-section=.rel.BTF',
      '--remove-section=.BTF.ext',
      '--remove-section=.rel.BTF.ext',
      join(dir, 'with.o'),
      join(dir, 'without.o'),
    ]);
    expect(() => vmlinuxBtf(readFileSync(join(dir, 'without.o')))).toThrowWithCode(
      'BTF_MALFORMED',
      'vmlinux has no .BTF section (a kernel built without CONFIG_DEBUG_INFO_BTF)',
    );
    expect(() => vmlinuxBtf(text('not an elf'))).toThrowWithCode('BPF_NOT_ELF', 'not an ELF file: no \\x7fELF magic');
  });
});
