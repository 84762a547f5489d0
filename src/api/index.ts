/**
 * ebpm as a library: `import { openEbpm } from 'ebpm'`.
 *
 * ```ts
 * const ebpm = await openEbpm();
 * await ebpm.pull('sigsnoop@1.2');
 * const run = await ebpm.run('opensnoop@0.3', { params: { pid: process.pid }, maxEvents: 10 });
 * for await (const e of run.events) if (e.kind === 'event') console.log(e.data);
 * ```
 *
 * Every failure is an `EbpmError`: match on its `code` (with `isEbpmError`), as the command's
 * exit codes do.
 *
 * @packageDocumentation
 */
export { openEbpm, type Ebpm, type OpenOptions, type PullOptions, type PushOptions, type RunOptions, type VerifyOptions } from './client.js';
export { MAX_QUEUED, type ParamInput, type RunEvent, type RunHandle, type RunSummary, type StopReason } from './run.js';
export { EbpmError, isEbpmError, type EbpmErrorOptions } from '../core/errors.js';
export type { Platform } from '../core/oci.js';
export type { Env } from '../core/paths.js';
export type { InspectResult } from '../services/inspect.js';
export type { PullResult } from '../services/pull.js';
export type { PushResult } from '../services/push.js';
export type { PullPolicy } from '../services/run-source.js';
export type { SearchFailure, SearchHit, SearchResult, SearchSource } from '../services/search.js';
export type { OnTransferEvent } from '../services/transfer.js';
export type { ReferenceVerification } from '../services/trust.js';
