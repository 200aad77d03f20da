import t from 'tap'
import { readFileSync } from 'node:fs'
import jsonpatch, { type Operation } from 'fast-json-patch'
import { admitReview, admitText, type AdmissionReviewOut, type AdmissionResult } from '../../src/core/k8s/admission.js'
import { planInjection } from '../../src/core/k8s/inject.js'
import { parseSidecarSettings, sidecarSettingsSchema, type SidecarSettings, type SidecarSettingsInput } from '../../src/core/k8s/sidecar-config.js'
import { formatConfigError } from '../../src/core/config/errors.js'
import { validateObject } from '../helpers/k8s-schema.js'
import { mulberry32 } from '../helpers/prng.js'

type Obj = Record<string, any>

const DEFAULTS = sidecarSettingsSchema.parse(undefined)
const settings = (input: SidecarSettingsInput): SidecarSettings => sidecarSettingsSchema.parse(input)

function fixture(name: string): Obj {
  return JSON.parse(readFileSync(new URL(`../fixtures/admission/${name}.json`, import.meta.url), 'utf8')) as Obj
}

/** The AdmissionReview answer of a result that must be one. */
function answer(r: AdmissionResult): AdmissionReviewOut {
  if (r.status !== 200) throw new Error(`expected a review, got HTTP ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body
}

function decodePatch(out: AdmissionReviewOut): Operation[] {
  if (out.response.patch === undefined) throw new Error('no patch')
  return JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8')) as Operation[]
}

/** Applies the returned patch the way the API server does: every operation must apply. */
function patched(review: Obj, s: SidecarSettings = DEFAULTS): { pod: Obj; ops: Operation[]; out: AdmissionReviewOut } {
  const out = answer(admitReview(review, s))
  const ops = decodePatch(out)
  const pod = jsonpatch.applyPatch(jsonpatch.deepClone(review.request.object), ops, true, false).newDocument as Obj
  return { pod, ops, out }
}

function withObject(review: Obj, pod: Obj): Obj {
  return { ...review, request: { ...review.request, object: pod } }
}

const INJECTABLE = ['deployment-pod', 'existing-annotations-volumes', 'bare-pod']

t.test('a Deployment-created pod (generateName) gets the sidecar, its volumes and the injected annotation', async (t) => {
  const review = fixture('deployment-pod')
  const original = review.request.object
  const { pod, out } = patched(review)
  t.equal(out.apiVersion, 'admission.k8s.io/v1')
  t.equal(out.kind, 'AdmissionReview')
  t.equal(out.response.uid, review.request.uid, 'the uid is echoed')
  t.equal(out.response.allowed, true)
  t.equal(out.response.patchType, 'JSONPatch')

  t.same(pod.spec.containers.map((c: Obj) => c.name), ['chaperone', 'chatbot'], 'the sidecar goes first')
  t.same(pod.spec.containers[1], original.spec.containers[0], 'the chatbot container is untouched')
  const c = pod.spec.containers[0]
  t.equal(c.image, 'ghcr.io/chaperone-proxy/chaperone:0.1.0')
  t.equal(c.imagePullPolicy, 'IfNotPresent')
  t.same(c.args, ['serve', '--config', '/etc/chaperone', '--listen', '0.0.0.0:8081', '--upstream', 'http://127.0.0.1:3000', '--admin', '0.0.0.0:9090'], 'ports from the annotations')
  t.same(c.ports, [
    { name: 'http', containerPort: 8081, protocol: 'TCP' },
    { name: 'admin', containerPort: 9090, protocol: 'TCP' },
  ])
  t.match(c.readinessProbe, { httpGet: { path: '/readyz', port: 'admin' } })
  t.match(c.livenessProbe, { httpGet: { path: '/healthz', port: 'admin' } })
  t.match(c.startupProbe, { httpGet: { path: '/healthz', port: 'admin' } })
  t.same(c.securityContext, {
    runAsNonRoot: true,
    runAsUser: 10001,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  })
  t.same(c.resources, { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '256Mi' } })
  t.same(c.env, [{ name: 'CHAPERONE_ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: 'chaperone-admin', key: 'admin-token', optional: true } } }])
  t.same(c.volumeMounts, [
    { name: 'chaperone-config', mountPath: '/etc/chaperone', readOnly: true },
    { name: 'chaperone-admin', mountPath: '/var/run/secrets/chaperone', readOnly: true },
  ])
  for (const ctr of pod.spec.containers) for (const m of ctr.volumeMounts ?? []) t.notOk('subPath' in m || 'subPathExpr' in m, `${ctr.name}: ${m.name} has no subPath`)

  t.same(
    pod.spec.volumes.map((v: Obj) => v.name),
    [original.spec.volumes[0].name, 'chaperone-config', 'chaperone-admin'],
    'volumes are appended; the service-account volume stays first',
  )
  t.same(pod.spec.volumes[1], { name: 'chaperone-config', configMap: { name: 'chaperone-config' } })
  t.same(pod.spec.volumes[2], { name: 'chaperone-admin', secret: { secretName: 'chaperone-admin', optional: true } })
  t.same(pod.metadata.annotations, {
    ...original.metadata.annotations,
    'chaperone.dev/injected': 'true',
    'kubectl.kubernetes.io/default-container': 'chatbot',
  })
  t.equal(pod.metadata.generateName, 'chatbot-7d9f8c6b5d-', 'metadata is otherwise untouched')
  t.same(await validateObject(pod as never), [], 'the patched pod is a valid Pod')
})

t.test('existing annotations (keys with "/" and "~") and volumes are kept; children are added, escaped', async (t) => {
  const review = fixture('existing-annotations-volumes')
  const original = review.request.object
  const { pod, ops } = patched(review)
  const paths = ops.map((o) => o.path)
  t.ok(paths.includes('/metadata/annotations/chaperone.dev~1injected'), 'the annotation key is a pointer token')
  t.ok(paths.includes('/metadata/annotations/kubectl.kubernetes.io~1default-container'))
  t.notOk(paths.includes('/metadata/annotations'), 'the existing annotations are not replaced')
  t.equal(pod.metadata.annotations['example.com/owner~team'], 'support')
  t.equal(pod.metadata.annotations['prometheus.io/scrape'], 'true')
  t.equal(pod.metadata.annotations['chaperone.dev/injected'], 'true')
  t.same(pod.spec.volumes.slice(0, 2), original.spec.volumes, 'existing volumes are kept in order')
  t.same(pod.spec.volumes[2], { name: 'chaperone-config', configMap: { name: 'support-policies' } }, 'the ConfigMap named by chaperone.dev/config')
  const c = pod.spec.containers[0]
  t.same(c.args.slice(3), ['--listen', '0.0.0.0:8080', '--upstream', 'http://127.0.0.1:8000', '--admin', '0.0.0.0:9091'])
  t.same(c.ports.map((p: Obj) => p.containerPort), [8080, 9091])
  t.same(await validateObject(pod as never), [])
})

t.test('a pod with neither annotations nor volumes gets both added whole', async (t) => {
  const review = fixture('bare-pod')
  t.notOk('annotations' in review.request.object.metadata)
  t.notOk('volumes' in review.request.object.spec)
  const { pod, ops } = patched(review)
  t.same(ops.find((o) => o.path === '/metadata/annotations'), {
    op: 'add',
    path: '/metadata/annotations',
    value: { 'chaperone.dev/injected': 'true', 'kubectl.kubernetes.io/default-container': 'chatbot' },
  })
  t.same((ops.find((o) => o.path === '/spec/volumes') as { value?: unknown } | undefined)?.value, [
    { name: 'chaperone-config', configMap: { name: 'chaperone-config' } },
    { name: 'chaperone-admin', secret: { secretName: 'chaperone-admin', optional: true } },
  ])
  t.notOk(ops.some((o) => o.path.startsWith('/metadata/annotations/') || o.path.startsWith('/spec/volumes/')), 'no child of an absent parent')
  t.same(pod.spec.containers[0].args.slice(3), ['--listen', '0.0.0.0:8080', '--upstream', 'http://127.0.0.1:8000', '--admin', '0.0.0.0:9090'], 'defaults')
  t.same(await validateObject(pod as never), [])
})

t.test('injection is idempotent: the patched pod comes back unpatched', async (t) => {
  for (const name of INJECTABLE) {
    for (const nativeSidecar of [false, true]) {
      const s = settings({ nativeSidecar })
      const review = fixture(name)
      const { pod } = patched(review, s)
      const again = answer(admitReview(withObject(review, pod), s))
      t.equal(again.response.allowed, true, `${name} native=${nativeSidecar}`)
      t.equal(again.response.patch, undefined, `${name} native=${nativeSidecar}: no second patch`)
      // Also when only one of the two markers survived (an edited template, say).
      const noAnnotation = jsonpatch.deepClone(pod) as Obj
      delete noAnnotation.metadata.annotations['chaperone.dev/injected']
      t.equal(answer(admitReview(withObject(review, noAnnotation), s)).response.patch, undefined, `${name}: the chaperone container alone stops it`)
    }
  }
})

t.test('already injected, opted out, not labelled: allowed unchanged', async (t) => {
  for (const name of ['already-injected', 'opted-out']) {
    const review = fixture(name)
    const out = answer(admitReview(review, DEFAULTS))
    t.same(out.response, { uid: review.request.uid, allowed: true }, name)
  }
  const unlabelled = fixture('bare-pod')
  delete unlabelled.request.object.metadata.labels['chaperone.dev/inject']
  t.same(answer(admitReview(unlabelled, DEFAULTS)).response, { uid: unlabelled.request.uid, allowed: true })
})

t.test('a hand-written chaperone container is left alone, with a warning for the pod creator', async (t) => {
  const review = fixture('bare-pod')
  review.request.object.spec.containers.push({ name: 'chaperone', image: 'ghcr.io/chaperone-proxy/chaperone:0.1.0' })
  const out = answer(admitReview(review, DEFAULTS))
  t.equal(out.response.allowed, true)
  t.equal(out.response.patch, undefined)
  t.match(out.response.warnings, [/already has a container named "chaperone"/])
})

t.test('an inject label that is neither "true" nor "false" refuses the pod', async (t) => {
  const review = fixture('bare-pod')
  review.request.object.metadata.labels['chaperone.dev/inject'] = 'yes'
  const out = answer(admitReview(review, DEFAULTS))
  t.equal(out.response.allowed, false)
  t.match(out.response.status?.message, /chaperone\.dev\/inject is "yes": expected "true" or "false"/)
})

t.test('bad port annotations refuse the pod, naming each annotation and value', async (t) => {
  const review = fixture('bad-port-annotations')
  const out = answer(admitReview(review, DEFAULTS))
  t.equal(out.response.uid, review.request.uid)
  t.equal(out.response.allowed, false)
  t.equal(out.response.patch, undefined)
  t.equal(out.response.status?.code, 422)
  const msg = out.response.status?.message ?? ''
  t.match(msg, /chaperone\.dev\/listen-port is "80a": expected a port number from 1 to 65535/)
  t.match(msg, /chaperone\.dev\/admin-port is "70000"/)
  t.notMatch(msg, /upstream-port/, 'the valid annotation is not blamed')

  for (const bad of ['0', '-1', '8080.5', ' 8080', '08080', '1e3', '', '65536']) {
    const r = fixture('bare-pod')
    r.request.object.metadata.annotations = { 'chaperone.dev/upstream-port': bad }
    const o = answer(admitReview(r, DEFAULTS))
    t.equal(o.response.allowed, false, JSON.stringify(bad))
  }
  const edge = fixture('bare-pod')
  edge.request.object.metadata.annotations = { 'chaperone.dev/upstream-port': '1', 'chaperone.dev/listen-port': '65535' }
  const { pod } = patched(edge)
  t.same(pod.spec.containers[0].args.slice(3, 7), ['--listen', '0.0.0.0:65535', '--upstream', 'http://127.0.0.1:1'], '1 and 65535 are ports')
})

t.test('ports that collide with each other or with declared container ports refuse the pod', async (t) => {
  const review = fixture('port-collision')
  const out = answer(admitReview(review, DEFAULTS))
  t.equal(out.response.allowed, false)
  const msg = out.response.status?.message ?? ''
  t.match(msg, /listen port \(default; set chaperone\.dev\/listen-port\) and the chatbot's port \(chaperone\.dev\/upstream-port\) are both 8080/)
  t.match(msg, /listen port 8080 .* declared by container "chatbot"/)
  t.match(msg, /admin port 9090 \(the default; set chaperone\.dev\/admin-port to a free port\) is already declared by container "exporter"/)

  // Moved away from the declared TCP ports it injects; a UDP port of the same number is no clash.
  const fixed = fixture('port-collision')
  Object.assign(fixed.request.object.metadata.annotations, { 'chaperone.dev/listen-port': '8000', 'chaperone.dev/admin-port': '9125' })
  const { pod } = patched(fixed)
  t.same(pod.spec.containers[0].ports.map((p: Obj) => p.containerPort), [8000, 9125])

  const same = fixture('bare-pod')
  same.request.object.metadata.annotations = { 'chaperone.dev/admin-port': '8080' }
  t.match(answer(admitReview(same, DEFAULTS)).response.status?.message, /admin port \(chaperone\.dev\/admin-port\) and Chaperone's listen port \(default; set chaperone\.dev\/listen-port\) are both 8080/)

  const sidecarPort = fixture('bare-pod')
  sidecarPort.request.object.spec.initContainers = [{ name: 'mesh', image: 'm', restartPolicy: 'Always', ports: [{ containerPort: 9090 }] }, { name: 'migrate', image: 'm', ports: [{ containerPort: 8080 }] }]
  const o = answer(admitReview(sidecarPort, DEFAULTS))
  t.match(o.response.status?.message, /9090 .* declared by container "mesh"/, 'a native sidecar runs beside it')
  t.notMatch(o.response.status?.message, /migrate/, 'a plain init container has exited before')
})

t.test('other refusals: a bad ConfigMap name, a volume name already taken', async (t) => {
  const cm = fixture('bare-pod')
  cm.request.object.metadata.annotations = { 'chaperone.dev/config': 'Policies_V2' }
  t.match(answer(admitReview(cm, DEFAULTS)).response.status?.message, /chaperone\.dev\/config is "Policies_V2": expected a ConfigMap name/)
  const vol = fixture('existing-annotations-volumes')
  vol.request.object.spec.volumes.push({ name: 'chaperone-config', emptyDir: {} })
  t.match(answer(admitReview(vol, DEFAULTS)).response.status?.message, /already has a volume named "chaperone-config"/)
})

t.test('nativeSidecar: an init container with restartPolicy Always, the containers untouched', async (t) => {
  const s = settings({ nativeSidecar: true })
  const review = fixture('deployment-pod')
  const { pod, ops } = patched(review, s)
  t.same(pod.spec.containers, review.request.object.spec.containers)
  t.same(ops.find((o) => o.path === '/spec/initContainers')?.op, 'add', 'the absent array is added whole')
  t.equal(pod.spec.initContainers.length, 1)
  t.equal(pod.spec.initContainers[0].name, 'chaperone')
  t.equal(pod.spec.initContainers[0].restartPolicy, 'Always')
  t.match(pod.spec.initContainers[0].startupProbe, { httpGet: { path: '/healthz', port: 'admin' } }, 'the startup probe gates the chatbot')
  t.notOk('kubectl.kubernetes.io/default-container' in pod.metadata.annotations, 'kubectl already defaults to the chatbot')
  t.same(await validateObject(pod as never), [])

  const withInit = fixture('bare-pod')
  withInit.request.object.spec.initContainers = [{ name: 'fetch-model', image: 'busybox:1.36', command: ['true'] }]
  const p2 = patched(withInit, s).pod
  t.same(p2.spec.initContainers.map((c: Obj) => c.name), ['fetch-model', 'chaperone'], 'appended after existing init containers')
})

t.test('settings shape the sidecar: image, pull policy, resources, env, secret, default ConfigMap, ports', async (t) => {
  const s = settings({
    image: 'registry.example.com/chaperone:0.2.0',
    imagePullPolicy: 'Always',
    configMap: 'org-policies',
    adminSecret: 'org-admin',
    listenPort: 18080,
    upstreamPort: 5000,
    adminPort: 19090,
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: 1, memory: '128Mi' } },
    env: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=200' }],
  })
  const { pod } = patched(fixture('bare-pod'), s)
  const c = pod.spec.containers[0]
  t.equal(c.image, 'registry.example.com/chaperone:0.2.0')
  t.equal(c.imagePullPolicy, 'Always')
  t.same(c.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: 1, memory: '128Mi' } })
  t.same(c.env.map((e: Obj) => e.name), ['CHAPERONE_ADMIN_TOKEN', 'NODE_OPTIONS'])
  t.equal(c.env[0].valueFrom.secretKeyRef.name, 'org-admin')
  t.same(c.args.slice(3), ['--listen', '0.0.0.0:18080', '--upstream', 'http://127.0.0.1:5000', '--admin', '0.0.0.0:19090'])
  t.same(pod.spec.volumes, [
    { name: 'chaperone-config', configMap: { name: 'org-policies' } },
    { name: 'chaperone-admin', secret: { secretName: 'org-admin', optional: true } },
  ])

  const override = settings({ env: [{ name: 'CHAPERONE_ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: 'vault-synced', key: 'token' } } }] })
  const env = patched(fixture('bare-pod'), override).pod.spec.containers[0].env
  t.same(env, [{ name: 'CHAPERONE_ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: 'vault-synced', key: 'token' } } }], 'an env entry of the same name replaces the default')
})

t.test('only Pod CREATE is considered: UPDATE, other kinds and subresources are allowed unchanged', async (t) => {
  const update = fixture('bare-pod')
  update.request.operation = 'UPDATE'
  update.request.oldObject = update.request.object
  t.same(answer(admitReview(update, DEFAULTS)).response, { uid: update.request.uid, allowed: true })

  const deployment = fixture('bare-pod')
  deployment.request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' }
  t.same(answer(admitReview(deployment, DEFAULTS)).response, { uid: deployment.request.uid, allowed: true })

  const sub = fixture('bare-pod')
  sub.request.subResource = 'ephemeralcontainers'
  t.same(answer(admitReview(sub, DEFAULTS)).response, { uid: sub.request.uid, allowed: true })

  const dry = fixture('bare-pod')
  dry.request.dryRun = true
  t.ok(answer(admitReview(dry, DEFAULTS)).response.patch, 'a dry run sees the same patch (the webhook has no side effects)')
})

t.test('malformed reviews get a clean answer', async (t) => {
  for (const text of ['', 'not json', '{"kind":', '[]', '"AdmissionReview"', 'null', '{}', '{"request":{}}', '{"request":{"uid":""}}', '{"request":{"uid":42}}']) {
    const r = admitText(text, DEFAULTS)
    t.equal(r.status, 400, JSON.stringify(text))
    t.match(r.body, { error: 'bad_request', message: String }, JSON.stringify(text))
  }
  t.match(admitText('not json', DEFAULTS).body, { message: 'the body is not JSON' })

  const v1beta1 = fixture('bare-pod')
  v1beta1.apiVersion = 'admission.k8s.io/v1beta1'
  const o1 = answer(admitReview(v1beta1, DEFAULTS))
  t.equal(o1.apiVersion, 'admission.k8s.io/v1beta1', 'answered in the version asked')
  t.equal(o1.response.allowed, false)
  t.match(o1.response.status?.message, /apiVersion admission\.k8s\.io\/v1/)

  const wrongKind = fixture('bare-pod')
  wrongKind.kind = 'TokenReview'
  t.match(answer(admitReview(wrongKind, DEFAULTS)).response, { uid: wrongKind.request.uid, allowed: false, status: { message: /expected kind AdmissionReview/ } })

  for (const object of [null, 'pod', 7, [], undefined]) {
    const r = fixture('bare-pod')
    r.request.object = object
    t.match(answer(admitReview(r, DEFAULTS)).response, { allowed: false, status: { code: 400, message: 'request.object is not an object' } }, JSON.stringify(object))
  }
  const noContainers = fixture('bare-pod')
  delete noContainers.request.object.spec.containers
  t.match(answer(admitReview(noContainers, DEFAULTS)).response, { allowed: false, status: { message: /no spec\.containers/ } })
})

t.test('random damage to real reviews never throws and always gets a review or a 400', async (t) => {
  const names = [...INJECTABLE, 'already-injected', 'opted-out', 'bad-port-annotations', 'port-collision']
  const weird: unknown[] = [null, 0, -1, 1e309, '', 'true', '8080', [], [null], {}, { name: 'chaperone' }, true]
  let checked = 0
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = mulberry32(seed)
    const review = fixture(names[Math.floor(rnd() * names.length)]!)
    // Replace a few randomly chosen nodes of the request with odd values.
    for (let k = 0; k < 3; k++) {
      let node: any = review.request
      for (let depth = 0; depth < 6; depth++) {
        if (node === null || typeof node !== 'object') break
        const keys = Object.keys(node)
        if (keys.length === 0) break
        const key = keys[Math.floor(rnd() * keys.length)]!
        if (rnd() < 0.3 || node[key] === null || typeof node[key] !== 'object') {
          node[key] = weird[Math.floor(rnd() * weird.length)]
          break
        }
        node = node[key]
      }
    }
    let r: AdmissionResult | undefined
    try {
      r = admitReview(review, DEFAULTS)
    } catch (err) {
      t.fail(`seed ${seed} threw: ${(err as Error).message}`)
      continue
    }
    if (r.status === 200) {
      t.equal(r.body.response.uid, review.request.uid, `seed ${seed}`)
      if (r.body.response.patch !== undefined) {
        // Whatever was injected must still apply to the (damaged) pod.
        const ops = decodePatch(r.body)
        t.doesNotThrow(() => jsonpatch.applyPatch(jsonpatch.deepClone(review.request.object), ops, true, false), `seed ${seed}: the patch applies`)
      }
    } else {
      t.equal(r.status, 400, `seed ${seed}`)
    }
    checked++
  }
  t.equal(checked, 300)
})

t.test('planInjection refuses what is not a Pod object', async (t) => {
  t.match(planInjection('pod', DEFAULTS), { action: 'deny' })
  t.match(planInjection({ metadata: { labels: 'chaperone.dev/inject=true' } }, DEFAULTS), { action: 'skip' })
})

t.test('sidecar settings: defaults, file:path errors, cross-field checks', async (t) => {
  const F = 'sidecar.yaml'
  const ok = (text: string | undefined) => {
    const r = parseSidecarSettings(F, text)
    if (!r.ok) throw new Error(r.errors.map(formatConfigError).join('\n'))
    return r.settings
  }
  const errors = (text: string) => {
    const r = parseSidecarSettings(F, text)
    if (r.ok) throw new Error('expected errors')
    return r.errors.map(formatConfigError)
  }
  const expected: SidecarSettings = {
    image: 'ghcr.io/chaperone-proxy/chaperone:0.1.0',
    imagePullPolicy: 'IfNotPresent',
    configMap: 'chaperone-config',
    adminSecret: 'chaperone-admin',
    listenPort: 8080,
    upstreamPort: 8000,
    adminPort: 9090,
    resources: { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '256Mi' } },
    env: [],
    nativeSidecar: false,
  }
  t.same(ok(undefined), expected)
  t.same(ok(''), expected)
  t.same(ok('# comments only\n'), expected)
  const shared = `image: ghcr.io/chaperone-proxy/chaperone:0.1.0
imagePullPolicy: IfNotPresent
configMap: chaperone-config          # default policies ConfigMap name
adminSecret: chaperone-admin         # Secret with key admin-token
listenPort: 8080
upstreamPort: 8000
adminPort: 9090
resources: { requests: { cpu: 100m, memory: 96Mi }, limits: { memory: 256Mi } }
env: []                               # extra EnvVar objects
`
  t.same(ok(shared), expected, 'the documented example is the defaults')
  t.same(ok('nativeSidecar: true\nupstreamPort: 3000\n'), { ...expected, nativeSidecar: true, upstreamPort: 3000 })

  t.same(errors('listenPort: 70000\n'), [`${F}:listenPort: Too big: expected number to be <=65535`])
  t.same(errors('imagePullPolicy: Sometimes\nports: {}\n'), [`${F}:imagePullPolicy: Invalid option: expected one of "Always"|"IfNotPresent"|"Never"`, `${F}:ports: unknown key`])
  t.same(errors('listenPort: 8000\n'), [`${F}:listenPort: must differ from upstreamPort (both 8000)`])
  t.same(errors('configMap: My_Policies\n'), [`${F}:configMap: expected a Kubernetes object name (lowercase letters, digits, "-" and ".")`])
  t.same(errors('resources: { limits: { memory: lots } }\n'), [`${F}:resources.limits.memory: expected a Kubernetes quantity, e.g. 100m or 256Mi`])
  t.same(errors('env: [{ name: A, value: x }, { name: A, value: y }]\n'), [`${F}:env[1].name: duplicate environment variable A`])
  t.same(errors('env: [{ name: A, value: x, valueFrom: {} }]\n'), [`${F}:env[0]: value and valueFrom are exclusive`])
  t.match(errors('image: [\n')[0], new RegExp(`^${F}:\\(root\\): YAML syntax error`))
  t.match(errors('a: 1\n---\nb: 2\n'), [`${F}:(root): expected a single YAML document`])
  const located = parseSidecarSettings(F, 'image: x\nadminPort: 0\n')
  t.match(located, { ok: false, errors: [{ path: 'adminPort', line: 2 }] }, 'errors carry the line')
})
