import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import type { IDeployment } from 'kubernetes-models/apps/v1'
import type { IConfigMap, IContainer, IPodSpec, ISecret, IService } from 'kubernetes-models/v1'
import { parseProcessConfig, PROCESS_CONFIG_FILE, type ProcessConfig } from '../../src/core/config/process-schema.js'
import { splitHostPort } from '../../src/core/config/listen.js'
import { validateConfigDir } from '../../src/io/config/validate.js'
import { validateManifests } from '../helpers/k8s-schema.js'
import { createKubeletVolume } from '../helpers/kubelet.js'

/**
 * Every kustomization under k8s/ built with the real `kubectl kustomize`, validated against the
 * Kubernetes API schemas, and checked for what makes the sidecar work: the ConfigMap mounted as a
 * directory, probes on the admin port, the Service sent through Chaperone, and a ConfigMap whose
 * content Chaperone itself accepts.
 */

const K8S = fileURLToPath(new URL('../../k8s/', import.meta.url))
const POLICIES = join(K8S, 'base/policies')
const OVERLAYS = readdirSync(join(K8S, 'overlays'), { withFileTypes: true })
  .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
  .map((e) => e.name)
  .sort()

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> } }

function kubectlMissing(): string | undefined {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' })
    return undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'kubectl is not installed: these tests need `kubectl` (kustomize is built in) on PATH, as on the dev machines and in CI'
    throw err
  }
}

const builds = new Map<string, { text: string; objects: Obj[] }>()

/** `kubectl kustomize k8s/<dir>`, once per directory; callers get a fresh copy to mutate. */
function build(dir: string): { text: string; objects: Obj[] } {
  if (!builds.has(dir)) builds.set(dir, kustomize(dir))
  return structuredClone(builds.get(dir)!)
}

function kustomize(dir: string): { text: string; objects: Obj[] } {
  const text = execFileSync('kubectl', ['kustomize', join(K8S, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const objects = parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(`${dir}: ${d.errors[0]!.message}`)
    return d.toJS() as Obj
  })
  return { text, objects }
}

function only<T extends Obj>(objects: Obj[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind)
  if (found.length !== 1) throw new Error(`expected one ${kind}, got ${found.length}`)
  return found[0] as T
}

/** Every `subPath`/`subPathExpr` key anywhere in a value, as a path. */
function subPaths(value: unknown, at = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => subPaths(v, `${at}[${i}]`))
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([k, v]) => [...(/^subPath/.test(k) ? [`${at}.${k}`] : []), ...subPaths(v, `${at}.${k}`)])
}

const shippedFiles = () => Object.fromEntries(readdirSync(POLICIES).map((n) => [n, readFileSync(join(POLICIES, n), 'utf8')]))

function shippedProcessConfig(): ProcessConfig {
  const parsed = parseProcessConfig(PROCESS_CONFIG_FILE, shippedFiles()[PROCESS_CONFIG_FILE])
  if (!parsed.ok) throw new Error(`k8s/base/policies/chaperone.yaml: ${JSON.stringify(parsed.errors)}`)
  return parsed.config
}

const portOf = (listen: string) => splitHostPort(listen)!.port

/** The container port a Service targetPort or probe port reaches, as kubelet resolves a name. */
function resolvePort(spec: IPodSpec, port: number | string | undefined): { container: string; port: number } | undefined {
  for (const c of spec.containers) {
    for (const p of c.ports ?? []) if (p.containerPort === port || (typeof port === 'string' && p.name === port)) return { container: c.name, port: p.containerPort }
  }
  return undefined
}

const missing = kubectlMissing()
if (missing) {
  t.fail(missing)
} else {
  t.test('there is a base and the overlays the README names', async (t) => {
    t.ok(OVERLAYS.includes('sidecar'), 'k8s/overlays/sidecar')
    t.ok(OVERLAYS.includes('example'), 'k8s/overlays/example')
  })

  for (const dir of ['base', ...OVERLAYS.map((o) => `overlays/${o}`)]) {
    t.test(`kubectl kustomize k8s/${dir}: builds, and every document passes the Kubernetes schemas`, async (t) => {
      const { text, objects } = build(dir)
      t.ok(objects.length > 0, 'it renders something')
      t.same(await validateManifests(text), [], 'schema-valid')
      t.same(subPaths(objects), [], 'nothing is mounted with subPath: kubelet never updates such a mount')
      t.notMatch(text, /subPath/)
    })
  }

  t.test('the schema check catches a broken manifest (so the checks above can fail)', async (t) => {
    const { objects } = build('overlays/sidecar')
    const deployment = only<IDeployment & Obj>(objects, 'Deployment')
    ;(deployment.spec!.template.spec!.containers[0]!.ports![0] as { containerPort: unknown }).containerPort = 'eighty'
    const errors = await validateManifests(JSON.stringify(deployment))
    t.equal(errors.length, 1)
    t.match(errors[0], /^Deployment\/chatbot: /)
  })

  t.test('base: the policies ConfigMap and the admin Secret, and nothing that names a chatbot', async (t) => {
    const { objects } = build('base')
    t.same(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Secret'])
    const cm = only<IConfigMap & Obj>(objects, 'ConfigMap')
    t.equal(cm.metadata.name, 'chaperone-config', 'no hash suffix: edits reload in place instead of rolling the pods')
    const files = shippedFiles()
    t.ok(files[PROCESS_CONFIG_FILE], 'k8s/base/policies has chaperone.yaml')
    t.ok(Object.keys(files).some((n) => n !== PROCESS_CONFIG_FILE && n.endsWith('.yaml')), 'and a policy')
    t.same(cm.data, files, 'the ConfigMap holds exactly the files under k8s/base/policies')
    const secret = only<ISecret & Obj>(objects, 'Secret')
    t.match(secret.metadata.name, /^chaperone-admin-[a-z0-9]+$/, 'the Secret keeps its hash: a new token rolls the pods')
    t.same(secret.data, { 'admin-token': '' }, 'an empty placeholder, which keeps /admin/* closed until replaced')
  })

  t.test('the ConfigMap, projected as kubelet projects it, is a config directory Chaperone accepts', async (t) => {
    t.same(await validateConfigDir(POLICIES), [], 'k8s/base/policies')
    const cm = only<IConfigMap & Obj>(build('base').objects, 'ConfigMap')
    const dir = await mkdtemp(join(tmpdir(), 'chaperone-configmap-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    await createKubeletVolume(dir, cm.data ?? {})
    t.same(await validateConfigDir(dir), [], 'the mounted ConfigMap')
    const config = shippedProcessConfig()
    t.equal(config.admin.tokenFile, '/var/run/secrets/chaperone/admin-token', 'the admin token comes from the Secret volume')
    t.not(splitHostPort(config.listen)!.host, '127.0.0.1', 'the proxy listens beyond loopback, for the Service')
    t.not(splitHostPort(config.admin.listen)!.host, '127.0.0.1', 'the admin listener too, for kubelet probes')
  })

  for (const overlay of OVERLAYS) {
    t.test(`overlays/${overlay}: the sidecar in the Deployment, the Service through Chaperone`, async (t) => {
      const { objects } = build(`overlays/${overlay}`)
      const config = shippedProcessConfig()
      const listenPort = portOf(config.listen)
      const adminPort = portOf(config.admin.listen)
      const cm = only<IConfigMap & Obj>(objects, 'ConfigMap')
      const secret = only<ISecret & Obj>(objects, 'Secret')
      const deployment = only<IDeployment & Obj>(objects, 'Deployment')
      const service = only<IService & Obj>(objects, 'Service')
      const pod = deployment.spec!.template.spec!
      const byName = new Map(pod.containers.map((c) => [c.name, c]))

      const sidecar = byName.get('chaperone') as IContainer
      t.ok(sidecar, 'a container named chaperone')
      t.ok(pod.containers.length >= 2, 'next to the chatbot, which stays')
      t.match(sidecar.image, /^ghcr\.io\/chaperone-proxy\/chaperone:/)
      const mount = (sidecar.volumeMounts ?? []).find((m) => m.name === 'chaperone-config')
      t.same([mount?.mountPath, mount?.readOnly], ['/etc/chaperone', true], 'the config volume, read-only')
      t.same(sidecar.args, ['serve', '--config', mount?.mountPath], 'serve reads the mounted directory')
      t.same(pod.volumes?.find((v) => v.name === 'chaperone-config')?.configMap, { name: cm.metadata.name }, 'the volume is the generated ConfigMap, whole')
      const adminMount = sidecar.volumeMounts?.find((m) => m.name === 'chaperone-admin')
      t.same([adminMount?.mountPath, adminMount?.readOnly], ['/var/run/secrets/chaperone', true], 'the admin Secret volume, read-only')
      t.same(pod.volumes?.find((v) => v.name === 'chaperone-admin')?.secret, { secretName: secret.metadata.name }, 'the admin Secret, by its generated name')
      t.equal(`${adminMount?.mountPath}/admin-token`, config.admin.tokenFile, 'where chaperone.yaml reads the token')

      t.equal(sidecar.readinessProbe?.httpGet?.path, '/readyz')
      t.equal(sidecar.livenessProbe?.httpGet?.path, '/healthz')
      t.equal(sidecar.startupProbe?.httpGet?.path, '/healthz')
      t.same(resolvePort(pod, sidecar.startupProbe?.httpGet?.port), { container: 'chaperone', port: adminPort }, 'startup on the admin port')
      t.same(resolvePort(pod, sidecar.readinessProbe?.httpGet?.port), { container: 'chaperone', port: adminPort }, 'readiness on the admin port')
      t.same(resolvePort(pod, sidecar.livenessProbe?.httpGet?.port), { container: 'chaperone', port: adminPort }, 'liveness on the admin port')
      t.ok(sidecar.resources?.requests?.cpu && sidecar.resources.requests.memory && sidecar.resources.limits?.memory, 'requests and a memory limit')
      const sc = sidecar.securityContext
      t.same(
        [sc?.runAsNonRoot, sc?.runAsUser, sc?.readOnlyRootFilesystem, sc?.allowPrivilegeEscalation, sc?.capabilities?.drop],
        [true, 10001, true, false, ['ALL']],
        'non-root uid 10001, read-only root filesystem, no privilege escalation, no capabilities',
      )
      t.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 > config.limits.drainTimeoutMs, 'the grace period outlasts the drain')

      const names = pod.containers.flatMap((c) => (c.ports ?? []).flatMap((p) => (p.name ? [p.name] : [])))
      t.same(names, [...new Set(names)], 'container port names are unique in the pod, so a named port resolves to one container')
      t.same(deployment.spec!.template.metadata?.labels?.['chaperone.dev/inject'], 'false', 'the injection webhook leaves this pod alone')

      const upstreamPort = Number(new URL(config.upstream.url).port)
      const chatbots = pod.containers.filter((c) => c.name !== 'chaperone')
      t.ok(chatbots.some((c) => (c.ports ?? []).some((p) => p.containerPort === upstreamPort) || (c.args ?? []).includes(String(upstreamPort))), 'a chatbot container on the port chaperone.yaml forwards to')

      const podLabels = deployment.spec!.template.metadata?.labels ?? {}
      const selector = Object.entries(service.spec!.selector ?? {})
      t.ok(selector.length > 0 && selector.every(([k, v]) => podLabels[k] === v), 'the Service selects the pods')
      t.ok(service.spec!.ports!.length > 0)
      for (const p of service.spec!.ports!) {
        t.same(resolvePort(pod, p.targetPort ?? p.port), { container: 'chaperone', port: listenPort }, `Service port ${p.port} goes to Chaperone's listen port`)
      }
    })
  }

  t.test('overlays/sidecar: the patch only adds, the example chatbot is unchanged', async (t) => {
    const source = parseAllDocuments(readFileSync(join(K8S, 'overlays/sidecar/example-chatbot.yaml'), 'utf8')).map((d) => d.toJS() as Obj)
    const original = only<IDeployment & Obj>(source, 'Deployment')
    const built = only<IDeployment & Obj>(build('overlays/sidecar').objects, 'Deployment')
    for (const c of original.spec!.template.spec!.containers) {
      t.same(built.spec!.template.spec!.containers.find((b) => b.name === c.name), c, `container ${c.name} as it was`)
    }
    t.equal(built.spec!.replicas, original.spec!.replicas)
    const labels = built.spec!.template.metadata?.labels ?? {}
    t.ok(Object.entries(original.spec!.template.metadata?.labels ?? {}).every(([k, v]) => labels[k] === v), 'the pod keeps its labels')
  })
}
