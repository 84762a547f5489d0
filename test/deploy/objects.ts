// What the deploy/ tests check every Kubernetes object against: the published Kubernetes OpenAPI
// schemas, as compiled validators in the kubernetes-models package (the Kubernetes client
// libraries' own model set for TypeScript).
import { readFileSync } from 'node:fs';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

export type K8sObject = Record<string, unknown> & { readonly apiVersion: string; readonly kind: string };

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1 DaemonSet': DaemonSet,
  'v1 ConfigMap': ConfigMap,
  'v1 Namespace': Namespace,
  'v1 Secret': Secret,
  'v1 Service': Service,
  'v1 ServiceAccount': ServiceAccount,
};

/**
 * `validateObject` throws the schema's ValidationError, or an Error naming the fields the schema
 * does not know (which an API server's strict field validation refuses, though the published
 * schemas do not forbid them), or for a kind not checked here.
 */
export function validateObject(o: K8sObject): void {
  const Model = MODELS[`${o.apiVersion} ${o.kind}`];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  const model = new Model(o as never);
  model.validate();
  const unknown = unknownFields(model);
  if (unknown.length > 0) throw new Error(`${o.kind}: unknown fields ${unknown.join(', ')}`);
}

/**
 * `unknownFields` lists the paths of the fields a valid object has that its schema does not
 * declare. The compiled validator reads every field its schema declares (and every key of a map
 * it types), so a field it never read during a run over a proxy is one it does not know.
 */
function unknownFields(model: { validate(): void }): string[] {
  const read = new WeakMap<object, Set<string>>();
  const proxies = new WeakMap<object, object>();
  const watch = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    let p = proxies.get(v);
    if (!p) {
      const keys = new Set<string>();
      read.set(v, keys);
      p = new Proxy(v, {
        get(target, key, receiver) {
          if (typeof key === 'string') keys.add(key);
          return watch(Reflect.get(target, key, receiver));
        },
      });
      proxies.set(v, p);
    }
    return p;
  };
  model.validate.call(watch(model));
  const out: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${path}/${i}`);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (read.get(v)?.has(k)) walk(x, `${path}/${k}`);
        else out.push(`${path}/${k}`);
      }
    }
  };
  walk(model, '');
  return out;
}

/** `readManifest` parses a multi-document YAML file into its objects. */
export function readManifest(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${path}: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject;
  });
}

/** The parts of the agent's pod the tests read. */
export interface Container {
  image: string;
  imagePullPolicy: string;
  args: string[];
  env: { name: string; value: string }[];
  ports: unknown[];
  resources: unknown;
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
export interface Volume {
  name: string;
  hostPath?: { path: string; type: string };
  configMap?: { name: string };
  secret?: { secretName: string };
}
export interface PodSpec {
  hostPID: boolean;
  automountServiceAccountToken: boolean;
  nodeSelector: unknown;
  tolerations: unknown;
  containers: Container[];
  volumes: Volume[];
}
export interface Metadata {
  metadata: { name: string; namespace: string };
}
export interface DaemonSetLike extends Metadata {
  spec: { selector: { matchLabels: unknown }; template: { spec: PodSpec } };
}
export interface ServiceLike extends Metadata {
  spec: { selector: unknown; ports: unknown };
}
export interface DataLike extends Metadata {
  data: Record<string, string>;
  stringData: Record<string, string>;
  automountServiceAccountToken?: boolean;
}

/** `only` is the one object of `kind` among `objects`. */
export function only<T = DataLike>(objects: readonly Record<string, unknown>[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as T;
}
