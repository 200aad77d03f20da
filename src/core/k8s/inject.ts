/**
 * Sidecar injection as a JSON Patch (RFC 6902) against the Pod the API server is about to create.
 *
 * Decisions an operator can rely on:
 *  - Injection is asked for by the label `chaperone.dev/inject: "true"`; absent or "false" leaves
 *    the pod alone. Any other value is refused: a typo must not start a chatbot unprotected.
 *  - Idempotent: a pod annotated `chaperone.dev/injected: "true"` or already holding a container
 *    named `chaperone` (a hand-written sidecar) is returned unpatched.
 *  - Port annotations that are not port numbers, or that collide with each other or with a port
 *    the pod's containers declare, refuse the pod with a message naming the annotation: the
 *    alternatives (ignore the annotation, or skip injection) would both run something the
 *    operator did not ask for.
 *  - The sidecar goes FIRST in `containers`: kubelet starts containers in order, and a Service
 *    whose targetPort is the name `http` resolves to the first container declaring it, so
 *    traffic reaches Chaperone rather than the chatbot. `kubectl logs/exec` keep defaulting to
 *    the chatbot through the `kubectl.kubernetes.io/default-container` annotation (added unless
 *    the pod already sets one). With `nativeSidecar` it is appended to `initContainers` with
 *    `restartPolicy: Always` instead (Kubernetes 1.29+): its startup probe then gates the
 *    chatbot's start, and it stops after the chatbot.
 */
import type { SidecarSettings } from './sidecar-config.js'
import { DNS_SUBDOMAIN } from './sidecar-config.js'

export const INJECT_LABEL = 'chaperone.dev/inject'
export const INJECTED_ANNOTATION = 'chaperone.dev/injected'
export const UPSTREAM_PORT_ANNOTATION = 'chaperone.dev/upstream-port'
export const LISTEN_PORT_ANNOTATION = 'chaperone.dev/listen-port'
export const ADMIN_PORT_ANNOTATION = 'chaperone.dev/admin-port'
export const CONFIG_ANNOTATION = 'chaperone.dev/config'
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container'

export const SIDECAR_NAME = 'chaperone'
export const CONFIG_VOLUME = 'chaperone-config'
export const CONFIG_MOUNT_PATH = '/etc/chaperone'
export const ADMIN_VOLUME = 'chaperone-admin'
export const ADMIN_MOUNT_PATH = '/var/run/secrets/chaperone'
export const ADMIN_TOKEN_KEY = 'admin-token'
export const ADMIN_TOKEN_ENV = 'CHAPERONE_ADMIN_TOKEN'
/** The image's user (see the Dockerfile); fixed so runAsNonRoot can be checked by kubelet. */
export const SIDECAR_UID = 10001

export interface JsonPatchOp {
  readonly op: 'add'
  readonly path: string
  readonly value: unknown
}

export interface SidecarPorts {
  readonly listen: number
  readonly upstream: number
  readonly admin: number
}

export type InjectionPlan =
  | { readonly action: 'inject'; readonly patch: JsonPatchOp[]; readonly ports: SidecarPorts; readonly configMap: string }
  /** `warning` is for the person creating the pod (kubectl prints admission warnings). */
  | { readonly action: 'skip'; readonly reason: string; readonly warning?: string }
  | { readonly action: 'deny'; readonly message: string }

type Obj = Record<string, unknown>

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function objectsOf(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObj) : []
}

/** RFC 6901: `~` and `/` inside a key must be escaped, in that order. */
export function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1')
}

export function planInjection(pod: unknown, settings: SidecarSettings): InjectionPlan {
  if (!isObj(pod)) return { action: 'deny', message: 'the object is not a Pod' }
  const metadata = isObj(pod.metadata) ? pod.metadata : {}
  const labels = isObj(metadata.labels) ? metadata.labels : {}
  const annotations = isObj(metadata.annotations) ? metadata.annotations : undefined

  const wanted = labels[INJECT_LABEL]
  if (wanted === undefined) return { action: 'skip', reason: 'not labelled for injection' }
  if (wanted === 'false') return { action: 'skip', reason: 'opted out' }
  if (wanted !== 'true') return { action: 'deny', message: `label ${INJECT_LABEL} is ${JSON.stringify(wanted)}: expected "true" or "false"` }
  if (annotations?.[INJECTED_ANNOTATION] === 'true') return { action: 'skip', reason: 'already injected' }

  const spec = isObj(pod.spec) ? pod.spec : undefined
  if (!spec || !Array.isArray(spec.containers)) return { action: 'deny', message: 'the pod has no spec.containers' }
  const containers = objectsOf(spec.containers)
  const initContainers = objectsOf(spec.initContainers)
  if ([...containers, ...initContainers].some((c) => c.name === SIDECAR_NAME)) {
    return {
      action: 'skip',
      reason: 'has a container named chaperone',
      warning: `pod already has a container named "${SIDECAR_NAME}"; the ${INJECT_LABEL} label was ignored`,
    }
  }

  const problems: string[] = []
  for (const v of objectsOf(spec.volumes)) {
    if (v.name === CONFIG_VOLUME || v.name === ADMIN_VOLUME) problems.push(`the pod already has a volume named "${String(v.name)}", which the sidecar needs`)
  }
  const ports = resolvePorts(annotations ?? {}, settings, problems)
  checkDeclaredPorts(ports, annotations ?? {}, [...containers, ...initContainers.filter((c) => c.restartPolicy === 'Always')], problems)
  const configMap = resolveConfigMap(annotations ?? {}, settings, problems)
  if (problems.length > 0 || !ports || configMap === undefined) return { action: 'deny', message: `Chaperone sidecar injection refused: ${problems.join('; ')}` }

  const patch: JsonPatchOp[] = []
  const newAnnotations: Record<string, string> = { [INJECTED_ANNOTATION]: 'true' }
  const firstName = containers[0]?.name
  if (!settings.nativeSidecar && typeof firstName === 'string' && annotations?.[DEFAULT_CONTAINER_ANNOTATION] === undefined) {
    newAnnotations[DEFAULT_CONTAINER_ANNOTATION] = firstName
  }
  // A child path under a missing parent fails the whole patch: add the parent whole instead.
  if (annotations) for (const [k, v] of Object.entries(newAnnotations)) patch.push({ op: 'add', path: `/metadata/annotations/${pointerToken(k)}`, value: v })
  else patch.push({ op: 'add', path: '/metadata/annotations', value: newAnnotations })

  const sidecar = sidecarContainer(settings, ports)
  if (settings.nativeSidecar) {
    const native = { ...sidecar, restartPolicy: 'Always' }
    if (Array.isArray(spec.initContainers)) patch.push({ op: 'add', path: '/spec/initContainers/-', value: native })
    else patch.push({ op: 'add', path: '/spec/initContainers', value: [native] })
  } else {
    patch.push({ op: 'add', path: '/spec/containers/0', value: sidecar })
  }

  const volumes = sidecarVolumes(settings, configMap)
  if (Array.isArray(spec.volumes)) for (const v of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v })
  else patch.push({ op: 'add', path: '/spec/volumes', value: volumes })

  return { action: 'inject', patch, ports, configMap }
}

const PORT_TEXT = /^[1-9]\d{0,4}$/

/** Annotation values are strings in the API; anything else here is reported, not coerced. */
function portAnnotation(annotations: Obj, key: string, fallback: number, problems: string[]): number | undefined {
  const raw = annotations[key]
  if (raw === undefined) return fallback
  if (typeof raw === 'string' && PORT_TEXT.test(raw) && Number(raw) <= 65535) return Number(raw)
  problems.push(`annotation ${key} is ${JSON.stringify(raw)}: expected a port number from 1 to 65535`)
  return undefined
}

function resolvePorts(annotations: Obj, s: SidecarSettings, problems: string[]): SidecarPorts | undefined {
  const listen = portAnnotation(annotations, LISTEN_PORT_ANNOTATION, s.listenPort, problems)
  const upstream = portAnnotation(annotations, UPSTREAM_PORT_ANNOTATION, s.upstreamPort, problems)
  const admin = portAnnotation(annotations, ADMIN_PORT_ANNOTATION, s.adminPort, problems)
  if (listen === undefined || upstream === undefined || admin === undefined) return undefined
  const role = (key: string, what: string) => `${what} (${annotations[key] === undefined ? `default; set ${key}` : key})`
  if (listen === upstream) problems.push(`${role(LISTEN_PORT_ANNOTATION, "Chaperone's listen port")} and ${role(UPSTREAM_PORT_ANNOTATION, "the chatbot's port")} are both ${listen}`)
  if (admin === listen) problems.push(`${role(ADMIN_PORT_ANNOTATION, "Chaperone's admin port")} and ${role(LISTEN_PORT_ANNOTATION, "Chaperone's listen port")} are both ${admin}`)
  if (admin === upstream) problems.push(`${role(ADMIN_PORT_ANNOTATION, "Chaperone's admin port")} and ${role(UPSTREAM_PORT_ANNOTATION, "the chatbot's port")} are both ${admin}`)
  // Returned even when they clash, so the declared-port check reports everything at once.
  return { listen, upstream, admin }
}

/**
 * Every container of a pod shares one network namespace, so Chaperone cannot bind a TCP port
 * another container declares. Ports bound but not declared cannot be seen from here.
 */
function checkDeclaredPorts(ports: SidecarPorts | undefined, annotations: Obj, containers: Obj[], problems: string[]): void {
  if (!ports) return
  const mine: [number, string, string][] = [
    [ports.listen, LISTEN_PORT_ANNOTATION, "Chaperone's listen port"],
    [ports.admin, ADMIN_PORT_ANNOTATION, "Chaperone's admin port"],
  ]
  for (const c of containers) {
    for (const p of objectsOf(c.ports)) {
      if (p.protocol !== undefined && p.protocol !== 'TCP') continue
      for (const [port, key, what] of mine) {
        if (p.containerPort !== port) continue
        const source = annotations[key] === undefined ? `the default; set ${key} to a free port` : key
        problems.push(`${what} ${port} (${source}) is already declared by container "${String(c.name)}"`)
      }
    }
  }
}

function resolveConfigMap(annotations: Obj, s: SidecarSettings, problems: string[]): string | undefined {
  const raw = annotations[CONFIG_ANNOTATION]
  if (raw === undefined) return s.configMap
  if (typeof raw === 'string' && DNS_SUBDOMAIN.test(raw)) return raw
  problems.push(`annotation ${CONFIG_ANNOTATION} is ${JSON.stringify(raw)}: expected a ConfigMap name (lowercase letters, digits, "-" and ".")`)
  return undefined
}

export function sidecarContainer(s: SidecarSettings, ports: SidecarPorts): Obj {
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'admin' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  })
  const tokenEnv = { name: ADMIN_TOKEN_ENV, valueFrom: { secretKeyRef: { name: s.adminSecret, key: ADMIN_TOKEN_KEY, optional: true } } }
  const env = [...(s.env.some((e) => e.name === ADMIN_TOKEN_ENV) ? [] : [tokenEnv]), ...s.env]
  return {
    name: SIDECAR_NAME,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    // Flags win over chaperone.yaml, so the pod's annotations are what actually runs.
    args: [
      'serve',
      '--config',
      CONFIG_MOUNT_PATH,
      '--listen',
      `0.0.0.0:${ports.listen}`,
      '--upstream',
      `http://127.0.0.1:${ports.upstream}`,
      '--admin',
      `0.0.0.0:${ports.admin}`,
    ],
    ports: [
      { name: 'http', containerPort: ports.listen, protocol: 'TCP' },
      { name: 'admin', containerPort: ports.admin, protocol: 'TCP' },
    ],
    env,
    resources: s.resources,
    // Up to a minute to load policies (Redis, JWKS) before liveness may restart it.
    startupProbe: probe('/healthz', 1, 60),
    readinessProbe: probe('/readyz', 2, 3),
    livenessProbe: probe('/healthz', 10, 3),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // Never subPath: kubelet does not update subPath mounts, and policies hot-reload.
    volumeMounts: [
      { name: CONFIG_VOLUME, mountPath: CONFIG_MOUNT_PATH, readOnly: true },
      { name: ADMIN_VOLUME, mountPath: ADMIN_MOUNT_PATH, readOnly: true },
    ],
    // A config error is printed on stderr before exit; this puts it in `kubectl describe pod`.
    terminationMessagePolicy: 'FallbackToLogsOnError',
  }
}

/**
 * The admin Secret is optional, like the env reference: without it /admin/* stays disabled
 * (fail closed) while the proxy runs. A chaperone.yaml that sets admin.tokenFile then fails at
 * start, loudly, in the container's termination message.
 */
function sidecarVolumes(s: SidecarSettings, configMap: string): Obj[] {
  return [
    { name: CONFIG_VOLUME, configMap: { name: configMap } },
    { name: ADMIN_VOLUME, secret: { secretName: s.adminSecret, optional: true } },
  ]
}
