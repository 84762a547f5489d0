/**
 * The services' context (configuration, store, registries, credentials, trust policy) on its
 * own: what a command that only needs it (`ls`, `rm`, `tag`, a run from the store) loads,
 * without the client's services (`inspect` loads the build pipeline).
 */
export { openContext, type Context } from '../services/context.js';
