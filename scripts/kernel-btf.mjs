// Extracts a kernel's BTF (the `.BTF` section a CONFIG_DEBUG_INFO_BTF=y kernel carries) from its
// boot image, for `bpftool btf dump file <out> format c`: `node scripts/kernel-btf.mjs <vmlinuz> <out>`.
// Debian's arm64 vmlinuz is a raw `Image` (bookworm) or its gzip (later releases); neither is an
// ELF, so the section is found by its header (include/uapi/linux/btf.h): magic 0xeb9f, version 1,
// a 24-byte header, types then strings back to back, and a string section that starts and ends
// with NUL. The largest such blob is the kernel's own (modules' split BTF is not in the image).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/kernel-btf.mjs <vmlinuz|Image> <out.btf>');
  process.exit(2);
}
let image = readFileSync(input);
if (image[0] === 0x1f && image[1] === 0x8b) image = gunzipSync(image);

let best;
for (let at = image.indexOf(Buffer.from([0x9f, 0xeb, 1, 0])); at >= 0; at = image.indexOf(Buffer.from([0x9f, 0xeb, 1, 0]), at + 1)) {
  if (at + 24 > image.length || image.readUInt32LE(at + 4) !== 24) continue;
  const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((o) => image.readUInt32LE(at + o));
  const end = at + 24 + strOff + strLen;
  if (typeOff !== 0 || strOff !== typeLen || strLen === 0 || end > image.length) continue;
  if (image[at + 24 + strOff] !== 0 || image[end - 1] !== 0) continue;
  if (best === undefined || end - at > best.end - best.at) best = { at, end };
}
if (best === undefined) {
  console.error(`${input}: no BTF found (a kernel built without CONFIG_DEBUG_INFO_BTF?)`);
  process.exit(1);
}
writeFileSync(`${output}.tmp`, image.subarray(best.at, best.end));
renameSync(`${output}.tmp`, output);
