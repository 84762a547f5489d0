/**
 * Where `run` and `check` find a package: local paths first, then registry references through
 * the pull service (loaded only when no local path matched, so a local run does not pay for it).
 */
import { localSource, type PackageSource } from '../services/run-source.js';

const registrySource: PackageSource = {
  async resolve(arg, opts) {
    const { referenceSource } = await import('../services/pull.js');
    return referenceSource(opts.context).resolve(arg, opts);
  },
};

export const PACKAGE_SOURCES: readonly PackageSource[] = [localSource(), registrySource];
