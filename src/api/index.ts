/**
 * ebpm as a library: `import { openEbpm } from 'ebpm'`.
 *
 * ```ts
 * const ebpm = await openEbpm();
 * await ebpm.pull('sigsnoop@1.2');
 * const run = await ebpm.run('opensnoop@2', { params: { pid: process.pid }, maxEvents: 10 });
 * for await (const e of run.events) if (e.kind === 'event') console.log(e.data);
 * ```
 *
 * Every failure is an `EbpmError`: match on its `code` (with `isEbpmError`), as the command's
 * exit codes do.
 *
 * @packageDocumentation
 */
export { openEbpm, type Ebpm, type OpenOptions, type PullOptions, type PushOptions, type RunOptions, type VerifyOptions } from './client.js';
export { MAX_QUEUED, type ParamInput, type RunEvent, type RunHandle, type RunResult, type RunSummary, type StopReason, type WasmRunSummary } from './run.js';
export { EbpmError, isEbpmError, type EbpmErrorOptions } from '../core/errors.js';
// The types the results above are made of, so that the reference documents every one.
export type {
  ArrayLayout,
  CompositeLayout,
  EnumLayout,
  FieldLayout,
  FloatLayout,
  IntLayout,
  OpaqueLayout,
  PointerLayout,
  StringLayout,
  TypeLayout,
} from '../bpf/layout.js';
export type { Digest } from '../core/digest.js';
export type { Descriptor, Platform } from '../core/oci.js';
export type { Env } from '../core/paths.js';
export type { AttachDoc, SampleKind, SampleSpec } from '../package/doc-comments.js';
export type { ForeignFormat } from '../package/foreign.js';
export type {
  BpfObjectMeta,
  ExportMeta,
  KernelBtfMeta,
  MapMeta,
  PackageMetadata,
  ParameterKind,
  ParameterMeta,
  ProgramMeta,
  Requirements,
  WasmImport,
  WasmMeta,
} from '../package/metadata.js';
export type { BuildNotice } from '../services/build.js';
export type { InspectResult } from '../services/inspect.js';
export type { PullResult } from '../services/pull.js';
export type { PushResult } from '../services/push.js';
export type { AttachedProgram } from '../services/run-generation.js';
export type { PullPolicy } from '../services/run-source.js';
export type { SearchFailure, SearchHit, SearchResult, SearchSource } from '../services/search.js';
export type { SignResult } from '../services/sign.js';
export type { OnTransferEvent, TransferEvent } from '../services/transfer.js';
export type { Admission, ReferenceVerification } from '../services/trust.js';
export type { RejectReason } from '../sign/check.js';
export type { CertificateIdentity } from '../sign/identity.js';
export type { NotationSignature } from '../sign/notation.js';
export type { Decision, DecisionKey, DecisionReason, DecisionRecord, Requirement } from '../sign/policy.js';
export type { FailureReason, FoundFormat, RejectedSignature, SignatureFormat, SignedBy, Verification } from '../sign/verify.js';
