/**
 * `ebpm init`: scaffold a package source directory from a template under `templates/`, ready
 * for `ebpm build` and `ebpm run` unchanged. Template files are real files with placeholders
 * (in names and contents) that `renderTemplate` substitutes; nothing is half-written on failure.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { EbpmError, withContext } from '../core/errors.js';
import { PACKAGE_NAME } from '../package/source-manifest.js';

/** The templates: `bpf` (a BPF program alone), `wasm-c` (plus a C user space compiled to Wasm). */
export const TEMPLATES = ['bpf', 'wasm-c'] as const;
export type TemplateName = (typeof TEMPLATES)[number];
export const DEFAULT_TEMPLATE: TemplateName = 'bpf';

/** `TEMPLATE_DIR` holds one flat directory per template (beside `include/`, as INCLUDE_DIR finds it). */
export const TEMPLATE_DIR = new URL('../../templates', import.meta.url).pathname;

/** Package names are at most 128 characters (registry-spec/package-v1.md §3). */
const MAX_NAME = 128;

/**
 * What placeholders stand for: `{{name}}` the package name, `{{ident}}` the C identifier the
 * build derives from it (`my-tool.bpf.o` → `my_tool_bpf_o`, as `cArray` names it), `{{IDENT}}`
 * its upper case for include guards.
 */
export interface TemplateVars {
  readonly name: string;
  readonly ident: string;
  readonly IDENT: string;
}

export interface TemplateFile {
  /** Path relative to the template or package directory. */
  readonly path: string;
  readonly text: string;
}

function isTemplate(t: string): t is TemplateName {
  return (TEMPLATES as readonly string[]).includes(t);
}

/**
 * `templateVars` checks `name` as a package name for `template` and derives the placeholders.
 * `wasm-c` also needs a name starting with a letter: the embedded object's C array is named
 * after it, and a C identifier cannot start with a digit.
 */
export function templateVars(name: string, template: TemplateName): TemplateVars {
  if (!PACKAGE_NAME.test(name) || name.length > MAX_NAME) {
    throw new EbpmError('USAGE', 'not a package name', {
      hint: `use lower-case letters and digits with single . _ - separators, at most ${MAX_NAME} characters (like my-tool)`,
    });
  }
  const ident = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (template === 'wasm-c' && !/^[a-z]/.test(name)) {
    throw new EbpmError('USAGE', 'template wasm-c needs a name starting with a letter', {
      hint: `main.c refers to the embedded object as ${ident}_bpf_o, which C does not allow; prefix the name with a letter`,
    });
  }
  return { name, ident, IDENT: ident.toUpperCase() };
}

/**
 * `renderTemplate` substitutes the placeholders in every path and text. A placeholder it does
 * not know is a bug in the template (`INTERNAL`), caught by the tests rather than shipped. Pure.
 */
export function renderTemplate(files: readonly TemplateFile[], vars: TemplateVars): TemplateFile[] {
  const sub = (s: string, where: string) =>
    s.replace(/\{\{([^{}]*)\}\}/g, (_, key: string) => {
      if (!Object.hasOwn(vars, key)) throw new EbpmError('INTERNAL', `template ${where}: unknown placeholder {{${key}}}`);
      return vars[key as keyof TemplateVars];
    });
  return files.map((f) => ({ path: sub(f.path, f.path), text: sub(f.text, f.path) }));
}

/** `nextSteps` are the commands to run after init, with `dir` as the user would type it from `cwd`. */
export function nextSteps(dir: string, cwd: string): string[] {
  const rel = relative(cwd, dir);
  const shown = rel === '' ? '.' : rel.startsWith('..') ? dir : rel.split(sep).join('/');
  const quoted = /^[\w@%+=:,./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`;
  return [`ebpm build ${quoted}`, `sudo ebpm run ${quoted}`];
}

/**
 * Templates that extend another: their files are laid over the base's, so the BPF sources of
 * `wasm-c` are `bpf`'s own and cannot drift apart.
 */
const BASE: Partial<Record<TemplateName, TemplateName>> = { 'wasm-c': 'bpf' };

/** `readTemplate` reads a template's files (over its base's, if any), sorted by path. */
export async function readTemplate(template: TemplateName, root = TEMPLATE_DIR): Promise<TemplateFile[]> {
  const base = BASE[template];
  const files = new Map((base ? await readTemplate(base, root) : []).map((f) => [f.path, f]));
  const dir = join(root, template);
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries.filter((e) => e.isFile())) files.set(e.name, { path: e.name, text: await readFile(join(dir, e.name), 'utf8') });
  return [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface InitRequest {
  readonly name: string;
  /** A template name; anything else is `USAGE`. Default `bpf`. */
  readonly template?: string;
  /** The package directory to create, absolute. */
  readonly dir: string;
}

export interface InitResult {
  readonly name: string;
  readonly template: TemplateName;
  readonly dir: string;
  /** The files written, relative to `dir`, sorted. */
  readonly files: readonly string[];
}

/**
 * `init` writes the package directory. The target must not exist, or be an empty directory
 * (`INIT_EXISTS` otherwise). Missing parents are created (and removed again on failure).
 */
export async function init(req: InitRequest): Promise<InitResult> {
  try {
    const template = req.template ?? DEFAULT_TEMPLATE;
    if (!isTemplate(template)) {
      throw new EbpmError('USAGE', `unknown template ${JSON.stringify(template)}`, { hint: `templates: ${TEMPLATES.join(', ')}` });
    }
    const files = renderTemplate(await readTemplate(template), templateVars(req.name, template));
    await writePackage(req.dir, files);
    return { name: req.name, template, dir: req.dir, files: files.map((f) => f.path).sort() };
  } catch (e) {
    throw withContext(`init ${req.name}`, e);
  }
}

function exists(dir: string, why: string): EbpmError {
  return new EbpmError('INIT_EXISTS', `${dir}: ${why}`, { hint: 'choose another directory with --dir, or remove this one first' });
}

/** Whether `dir` exists, as an empty directory; anything else there is `INIT_EXISTS`. */
async function emptyDir(dir: string): Promise<boolean> {
  const st = await lstat(dir).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : writeFailed(dir)(e)));
  if (st === undefined) return false;
  if (!st.isDirectory()) throw exists(dir, 'already exists and is not a directory');
  if ((await readdir(dir).catch(writeFailed(dir))).length > 0) throw exists(dir, 'already exists and is not empty');
  return true;
}

/**
 * A new directory is staged as a hidden sibling and renamed into place in one step. An existing
 * empty directory is kept (it may be the shell's working directory or a mount point): the files
 * are staged in a hidden directory inside it, on the same filesystem, and renamed up one by
 * one; on failure, those already moved are removed. File system errors become
 * `INIT_WRITE_FAILED`, the user's to fix (a full disk, a name too long).
 */
async function writePackage(dir: string, files: readonly TemplateFile[]): Promise<void> {
  const keep = await emptyDir(dir);
  const madeParent = keep ? undefined : await mkdir(dirname(dir), { recursive: true }).catch(writeFailed(dirname(dir)));
  const staging = join(keep ? dir : dirname(dir), `.ebpm-init-${randomBytes(6).toString('hex')}`);
  const moved: string[] = [];
  try {
    await mkdir(staging).catch(writeFailed(staging));
    for (const f of files) await writeFile(join(staging, f.path), f.text, { flag: 'wx' }).catch(writeFailed(join(staging, f.path)));
    if (keep) {
      for (const f of files) {
        await rename(join(staging, f.path), join(dir, f.path)).catch(writeFailed(join(dir, f.path)));
        moved.push(f.path);
      }
      await rm(staging, { recursive: true });
    } else {
      await rename(staging, dir).catch((e: NodeJS.ErrnoException) => {
        // Someone created it since the check.
        if (e.code === 'ENOTEMPTY' || e.code === 'EEXIST' || e.code === 'ENOTDIR') throw exists(dir, 'appeared while writing and is not empty');
        return writeFailed(dir)(e);
      });
    }
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    for (const p of moved) await rm(join(dir, p), { force: true });
    if (madeParent !== undefined) await rm(madeParent, { recursive: true, force: true });
    throw e;
  }
}

function writeFailed(path: string): (e: NodeJS.ErrnoException) => never {
  // node's message is `ENOSPC: no space left on device, open '…'`: keep the part before the path.
  return (e) => {
    throw new EbpmError('INIT_WRITE_FAILED', `${path}: ${e.message.split(',')[0]}`, {
      cause: e,
      hint: 'check that the path is writable, its names short enough and the disk not full',
    });
  };
}
