import { EbpmError } from '../core/errors.js';
import { PULL_POLICIES, type PullPolicy } from '../api/sources.js';

/** `pullPolicy` reads `--pull`, for `ebpm pull` and `ebpm run` alike. */
export function pullPolicy(text: string): PullPolicy {
  if (!(PULL_POLICIES as readonly string[]).includes(text)) {
    throw new EbpmError('USAGE', `--pull ${JSON.stringify(text)}: not a pull policy`, { hint: 'use --pull always, missing or never' });
  }
  return text as PullPolicy;
}
