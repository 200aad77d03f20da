import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'
import { validateManifests } from '../helpers/k8s-schema.js'
import { validateConfigDir } from '../../src/io/config/validate.js'
import { parseSidecarSettings, sidecarSettingsSchema } from '../../src/core/k8s/sidecar-config.js'
import { sidecarContainer } from '../../src/core/k8s/inject.js'

/**
 * helm/chaperone rendered as `helm template` renders it (test/helm/render: Go text/template and
 * sprig, with Helm's own functions), for the default values and several value sets; every
 * document is validated against the Kubernetes schemas, then the parts that decide behaviour
 * are checked. Helm itself cannot be installed here; where it exists, `helm lint` and
 * `helm template` should agree.
 */

type Obj = Record<string, any>
interface Doc {
  source: string
  obj: Obj
}

const root = fileURLToPath(new URL('../../', import.meta.url))
const CHART = join(root, 'helm/chaperone')
const CONSUMER = join(root, 'test/fixtures/helm-consumer')

const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' })
if (goVersion.error) {
  // CI installs golang-go and golang-github-masterminds-sprig-dev; a developer machine may not.
  t.skip('go is not installed: the chart is rendered with Go text/template and sprig (apt-get install golang-go golang-github-masterminds-sprig-dev)', () => {})
} else {
  const work = mkdtempSync(join(tmpdir(), 'chaperone-helm-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const bin = join(work, 'render')
  // GOPATH mode: sprig and yaml.v3 come from Debian's packages under /usr/share/gocode, no modules.
  const build = spawnSync('go', ['build', '-o', bin, join(root, 'test/helm/render/main.go')], {
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'chaperone-helm-gocache'), GOFLAGS: '' },
  })
  if (build.status !== 0) throw new Error(`building the renderer failed:\n${build.stderr}`)
  defineTests(bin, work)
}

function defineTests(bin: string, work: string): void {
  const run = (args: string[], chart = CHART) => spawnSync(bin, [...args, chart], { encoding: 'utf8' })
  const render = (args: string[] = [], chart = CHART): string => {
    const r = run(args, chart)
    if (r.status !== 0) throw new Error(`render ${args.join(' ')} failed:\n${r.stderr}`)
    return r.stdout
  }
  const set = (values: Obj): string[] => Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`])
  // The renderer prints one document per `---`, each under its `# Source:` line, as Helm does.
  const docsOf = (out: string): Doc[] =>
    out
      .split(/^---$/m)
      .filter((chunk) => chunk.trim() !== '')
      .map((chunk) => {
        const [doc, ...more] = parseAllDocuments(chunk)
        if (!doc || more.length > 0) throw new Error(`expected one document per ---:\n${chunk.slice(0, 200)}`)
        if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '))
        return { source: /^# Source: (\S+)$/m.exec(chunk)?.[1] ?? '(none)', obj: doc.toJS() as Obj }
      })
  const find = (docs: Doc[], kind: string, name?: string): Obj[] =>
    docs.filter((d) => d.obj.kind === kind && (name === undefined || d.obj.metadata?.name === name)).map((d) => d.obj)
  const one = (docs: Doc[], kind: string, name?: string): Obj => {
    const found = find(docs, kind, name)
    if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`)
    return found[0]!
  }
  const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8')

  /** Schema-valid, parseable, no subPath: what every rendering must be. */
  async function checkRendering(t: Test, out: string, what: string): Promise<Doc[]> {
    t.same(await validateManifests(out), [], `${what}: every document is valid against the Kubernetes schemas`)
    t.notMatch(out, /subPath/, `${what}: nothing is mounted with subPath (kubelet never updates those)`)
    const docs = docsOf(out)
    t.ok(docs.length > 0, `${what}: renders documents`)
    for (const d of docs) t.match(d.source, /^chaperone\/templates\/|^chatbot\//, `${what}: ${d.obj.kind} has its # Source line`)
    return docs
  }

  /** Writes a rendered policies ConfigMap to a directory, as kubelet would project it. */
  function projectConfigMap(cm: Obj, name: string): string {
    const dir = join(work, name)
    mkdirSync(dir, { recursive: true })
    for (const [file, text] of Object.entries(cm.data as Record<string, string>)) writeFileSync(join(dir, file), text)
    return dir
  }

  // Metric names Chaperone exports (src/io/metrics.ts and each adapter's metrics.ts) and
  // prom-client's default process_/nodejs_ ones.
  const metricsFiles = ['src/io/metrics.ts', ...readdirSync(join(root, 'src/io'), { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(root, 'src/io', d.name, 'metrics.ts'))).map((d) => `src/io/${d.name}/metrics.ts`)]
  const metricsSource = metricsFiles.map((f) => readFileSync(join(root, f), 'utf8')).join('\n')
  const histograms = new Set([...metricsSource.matchAll(/Histogram\(\{\s*name: '([a-z0-9_]+)'/g)].map((m) => m[1]!))
  const exported = new Set([...metricsSource.matchAll(/'(chaperone_[a-z0-9_]+)'/g)].map((m) => m[1]!))
  const promClientDir = join(root, 'node_modules/prom-client/lib/metrics')
  for (const f of readdirSync(promClientDir).filter((f) => f.endsWith('.js'))) {
    for (const m of readFileSync(join(promClientDir, f), 'utf8').matchAll(/'((?:process|nodejs)_[a-z0-9_]+)'/g)) exported.add(m[1]!)
  }
  const knownMetric = (name: string): boolean => {
    if (exported.has(name)) return true
    const base = name.replace(/_(bucket|count|sum)$/, '')
    return base !== name && histograms.has(base)
  }
  const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'group_left', 'group_right'])
  /** The metric names a PromQL expression selects: identifiers that are not functions, keywords or labels. */
  function metricNames(expr: string): string[] {
    const bare = expr
      .replace(/"(?:[^"\\]|\\.)*"/g, '""')
      .replace(/\{[^}]*\}/g, '')
      .replace(/\[[^\]]*\]/g, '')
      .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, '')
      .replace(/\$\w+/g, '')
    const names: string[] = []
    for (const m of bare.matchAll(/\b([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
      if (m[2] || PROMQL_WORDS.has(m[1]!)) continue
      names.push(m[1]!)
    }
    return names
  }

  t.test('the metric-name check itself', async (t) => {
    t.ok(exported.has('chaperone_requests_total') && histograms.has('chaperone_request_duration_seconds'), 'metrics.ts is read')
    t.same(metricNames('sum by (namespace) (rate(foo_total{le="1", a=~"x|y"}[5m] offset 10m)) / ignoring(mode) group_left sum(bar) > 2 * vector(0)'), ['foo_total', 'bar'])
    t.ok(knownMetric('chaperone_request_duration_seconds_bucket'))
    t.notOk(knownMetric('chaperone_requests_total_bucket'), 'suffixes only on histograms')
    t.ok(knownMetric('chaperone_moderation_false_positive_reports_total'))
    t.notOk(knownMetric('chaperone_moderation_false_negative_reports_total'), 'a counter that does not exist is caught')
  })

  t.test('Chart.yaml and values.yaml agree on the image', async (t) => {
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Obj
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Obj
    t.equal(String(values.image.tag), chart.appVersion, 'image.tag is the appVersion (the manual-mode template cannot read Chart.yaml)')
  })

  t.test('default values: injection webhook with generated certificates', async (t) => {
    const out = render(['--name', 'chaperone', '--namespace', 'ai'])
    const docs = await checkRendering(t, out, 'defaults')

    const mwc = one(docs, 'MutatingWebhookConfiguration')
    t.equal(mwc.metadata.namespace, undefined, 'the webhook configuration is cluster-scoped')
    t.equal(mwc.webhooks.length, 1)
    const hook = mwc.webhooks[0]
    t.same(hook.objectSelector.matchLabels, { 'chaperone.dev/inject': 'true' }, 'only pods that ask')
    t.same(hook.objectSelector.matchExpressions, [{ key: 'chaperone.dev/webhook', operator: 'DoesNotExist' }], 'never the webhook pods themselves')
    t.equal(hook.failurePolicy, 'Fail')
    t.same(hook.admissionReviewVersions, ['v1'])
    t.equal(hook.sideEffects, 'None')
    t.equal(hook.timeoutSeconds, 5)
    t.equal(hook.reinvocationPolicy, 'IfNeeded')
    t.same(hook.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }])
    const nsExpr = hook.namespaceSelector.matchExpressions as Obj[]
    t.ok(nsExpr.some((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn' && e.values.includes('kube-system')), 'kube-system is never sent')
    t.ok(nsExpr.some((e) => e.key === 'chaperone.dev/inject' && e.operator === 'NotIn' && e.values.includes('false')), 'a namespace can opt out')
    t.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], undefined, 'no cert-manager annotation without cert-manager')

    // The API server reaches the Service on 443, which reaches the container's https port.
    const svc = one(docs, 'Service', 'chaperone-webhook')
    t.same(hook.clientConfig.service, { name: 'chaperone-webhook', namespace: 'ai', path: '/mutate', port: 443 })
    t.same(svc.spec.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }])
    const deploy = one(docs, 'Deployment', 'chaperone-webhook')
    t.same(svc.spec.selector, deploy.spec.template.metadata.labels, 'the Service selects the webhook pods')
    t.equal(deploy.spec.replicas, 2)
    const c = deploy.spec.template.spec.containers[0]
    t.same(c.ports, [{ name: 'https', containerPort: 8443, protocol: 'TCP' }])
    t.same(c.args, ['inject-webhook', '--listen', '0.0.0.0:8443', '--tls-cert', '/etc/chaperone-webhook/tls.crt', '--tls-key', '/etc/chaperone-webhook/tls.key', '--sidecar-config', '/etc/chaperone-injector/sidecar.yaml'])
    const volumes = Object.fromEntries((deploy.spec.template.spec.volumes as Obj[]).map((v) => [v.name, v]))
    const mounts = Object.fromEntries((c.volumeMounts as Obj[]).map((m) => [m.mountPath, m.name]))
    t.equal(volumes[mounts['/etc/chaperone-webhook']].secret.secretName, 'chaperone-webhook-tls', 'the TLS Secret is mounted where --tls-cert points')
    t.equal(volumes[mounts['/etc/chaperone-injector']].configMap.name, 'chaperone-webhook-sidecar', 'the settings ConfigMap is mounted where --sidecar-config points')

    // Generated certificates: the caBundle is the CA that signed the serving certificate, and the
    // certificate names the Service's DNS names.
    const tls = one(docs, 'Secret', 'chaperone-webhook-tls')
    t.equal(tls.type, 'kubernetes.io/tls')
    t.equal(hook.clientConfig.caBundle, tls.data['ca.crt'], 'caBundle is the generated CA')
    const ca = new X509Certificate(b64(tls.data['ca.crt']))
    const cert = new X509Certificate(b64(tls.data['tls.crt']))
    t.ok(ca.ca, 'ca.crt is a CA')
    t.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'tls.crt is signed by ca.crt')
    for (const dns of ['chaperone-webhook.ai.svc', 'chaperone-webhook.ai.svc.cluster.local']) t.match(cert.subjectAltName ?? '', `DNS:${dns}`, `the certificate names ${dns}`)
    t.match(b64(tls.data['tls.key']), /BEGIN (RSA )?PRIVATE KEY/)
    t.equal(find(docs, 'Certificate').length + find(docs, 'Issuer').length, 0, 'no cert-manager objects')

    // The sidecar settings the webhook reads are valid for it and name this release's objects.
    const settingsCm = one(docs, 'ConfigMap', 'chaperone-webhook-sidecar')
    const settings = parseSidecarSettings('sidecar.yaml', settingsCm.data['sidecar.yaml'])
    t.ok(settings.ok, `the settings file parses: ${JSON.stringify(settings.ok ? [] : settings.errors)}`)
    if (settings.ok) {
      t.equal(settings.settings.configMap, 'chaperone-config')
      t.equal(settings.settings.adminSecret, 'chaperone-admin')
      t.equal(settings.settings.image, 'ghcr.io/chaperone-proxy/chaperone:0.1.0')
      t.same([settings.settings.listenPort, settings.settings.upstreamPort, settings.settings.adminPort], [8080, 8000, 9090])
    }
    t.match(deploy.spec.template.metadata.annotations['checksum/sidecar-settings'], /^[0-9a-f]{64}$/, 'a settings change rolls the webhook')

    // PDB, ServiceAccount, NetworkPolicy.
    const pdb = one(docs, 'PodDisruptionBudget')
    t.equal(pdb.spec.minAvailable, 1)
    t.same(pdb.spec.selector.matchLabels, deploy.spec.selector.matchLabels)
    t.equal(one(docs, 'ServiceAccount').metadata.name, deploy.spec.template.spec.serviceAccountName)
    const np = one(docs, 'NetworkPolicy')
    t.same(np.spec.podSelector.matchLabels, deploy.spec.selector.matchLabels)
    t.same(np.spec.ingress, [{ ports: [{ port: 'https', protocol: 'TCP' }] }], 'ingress on the webhook port only, from any source')

    // The policies ConfigMap is a valid config directory for Chaperone itself.
    const cm = one(docs, 'ConfigMap', 'chaperone-config')
    t.same(Object.keys(cm.data).sort(), ['chaperone.yaml', 'default.yaml'])
    t.same(parse(cm.data['chaperone.yaml']).admin, { tokenFile: '/var/run/secrets/chaperone/admin-token' }, 'the token file is the mounted admin Secret')
    t.same(await validateConfigDir(projectConfigMap(cm, 'defaults')), [], 'chaperone validate accepts the rendered ConfigMap')

    const admin = one(docs, 'Secret', 'chaperone-admin')
    t.match(b64(admin.data['admin-token']), /^[A-Za-z0-9]{32}$/, 'a random admin token is generated')
    t.same(Object.keys(admin.data), ['admin-token'])

    const dash = one(docs, 'ConfigMap', 'chaperone-dashboard')
    t.equal(dash.metadata.labels.grafana_dashboard, '1')
    t.same(JSON.parse(dash.data['chaperone.json']), JSON.parse(readFileSync(join(CHART, 'files/dashboard.json'), 'utf8')), '.Files.Get loads files/dashboard.json')
    t.equal(find(docs, 'ServiceMonitor').length + find(docs, 'PrometheusRule').length, 0, 'monitoring CRDs are off by default')
  })

  t.test('policies: every file becomes a ConfigMap key, process settings become chaperone.yaml', async (t) => {
    const moderation = 'apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata:\n  name: moderation\nspec:\n  moderation:\n    rules:\n      - name: banned\n        direction: response\n        keywords: [forbiddenword]\n        action: block\n'
    const limits = 'apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata: { name: extra }\nspec: {}\n'
    const out = render(
      set({
        'policies.moderation\\.yaml': moderation,
        'policies.zz-extra\\.yml': limits,
        'redis.url': 'rediss://:secret@redis.example.internal:6380/0',
        'redis.keyPrefix': 'chatbot-a',
        replicas: 3,
        adminToken: 'my-admin-token',
        hmacKeys: { 'partner-hs256': 'k'.repeat(40) },
        'process.upstream': { timeouts: { headersMs: 45000 } },
      }),
    )
    const docs = await checkRendering(t, out, 'policies and redis')
    const cm = one(docs, 'ConfigMap', 'release-name-chaperone-config')
    t.same(Object.keys(cm.data).sort(), ['chaperone.yaml', 'default.yaml', 'moderation.yaml', 'zz-extra.yml'], 'every policy is in the ConfigMap')
    t.equal(cm.data['moderation.yaml'], moderation, 'policy text is kept as written')
    t.equal(cm.data['zz-extra.yml'], limits)
    const processConfig = parse(cm.data['chaperone.yaml']) as Obj
    t.same(processConfig.redis, { url: 'rediss://:secret@redis.example.internal:6380/0', keyPrefix: 'chatbot-a' })
    t.same(processConfig.rateLimits, { replicas: 3 }, 'the replica count divides limits in the local fallback')
    t.same(processConfig.upstream, { timeouts: { headersMs: 45000 } }, 'values.process passes through')
    t.equal(processConfig.admin.tokenFile, '/var/run/secrets/chaperone/admin-token')
    t.same(await validateConfigDir(projectConfigMap(cm, 'policies')), [], 'chaperone validate accepts the rendered ConfigMap')

    const admin = one(docs, 'Secret', 'release-name-chaperone-admin')
    t.equal(b64(admin.data['admin-token']), 'my-admin-token')
    t.equal(b64(admin.data['partner-hs256']), 'k'.repeat(40), 'HMAC keys are files of the admin Secret')

    const bad = run(set({ 'policies.notes\\.txt': 'x' }))
    t.not(bad.status, 0, 'a policy file name that Chaperone would not read is refused')
    t.match(bad.stderr, /policies\.notes\.txt/)
    t.not(run(set({ 'policies.chaperone\\.yaml': 'listen: x' })).status, 0, 'chaperone.yaml is reserved for values.process')
    t.not(run(set({ hmacKeys: { 'admin-token': 'x' } })).status, 0, 'an HMAC key cannot replace the admin token')
  })

  t.test('cert-manager: an Issuer and a Certificate, and the CA injected by annotation', async (t) => {
    const out = render(['--namespace', 'ai', '--api-versions', 'cert-manager.io/v1'])
    const docs = await checkRendering(t, out, 'cert-manager (auto)')
    const hook = one(docs, 'MutatingWebhookConfiguration')
    const certificate = one(docs, 'Certificate')
    const issuer = one(docs, 'Issuer')
    t.equal(hook.metadata.annotations['cert-manager.io/inject-ca-from'], `ai/${certificate.metadata.name}`)
    t.equal(hook.webhooks[0].clientConfig.caBundle, undefined, 'cainjector fills caBundle')
    t.same(issuer.spec, { selfSigned: {} })
    t.same(certificate.spec.issuerRef, { kind: 'Issuer', name: issuer.metadata.name })
    t.ok(certificate.spec.dnsNames.includes('release-name-chaperone-webhook.ai.svc'))
    const deploy = one(docs, 'Deployment')
    const tlsVolume = (deploy.spec.template.spec.volumes as Obj[]).find((v) => v.name === 'tls')
    t.equal(tlsVolume?.secret.secretName, certificate.spec.secretName, 'the webhook mounts the Secret cert-manager writes')
    t.equal(find(docs, 'Secret', 'release-name-chaperone-webhook-tls').length, 0, 'no generated certificate')

    const external = docsOf(render(['--namespace', 'ai', ...set({ 'webhook.certManager.enabled': true, 'webhook.certManager.issuerRef': { kind: 'ClusterIssuer', name: 'internal-ca' } })]))
    t.equal(find(external, 'Issuer').length, 0, 'an existing issuer is used, none created')
    t.same(one(external, 'Certificate').spec.issuerRef, { kind: 'ClusterIssuer', name: 'internal-ca' })

    const off = docsOf(render(['--api-versions', 'cert-manager.io/v1', ...set({ 'webhook.certManager.enabled': false })]))
    t.equal(find(off, 'Certificate').length, 0, 'enabled: false wins over the API being there')
    t.ok(one(off, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle)
    t.not(run(set({ 'webhook.certManager.enabled': 'maybe' })).status, 0, 'an unknown mode is refused')
  })

  t.test('upgrades keep the generated admin token and certificates (lookup)', async (t) => {
    const existing = [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'release-name-chaperone-admin', namespace: 'default' }, data: { 'admin-token': Buffer.from('kept-token').toString('base64') } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'release-name-chaperone-webhook-tls', namespace: 'default' },
        data: { 'ca.crt': 'Q0E=', 'tls.crt': 'Q0VSVA==', 'tls.key': 'S0VZ' },
      },
    ]
    const lookupFile = join(work, 'lookup.yaml')
    writeFileSync(lookupFile, existing.map((o) => JSON.stringify(o)).join('\n---\n'))
    const docs = docsOf(render(['--is-upgrade', '--lookup', lookupFile]))
    t.equal(b64(one(docs, 'Secret', 'release-name-chaperone-admin').data['admin-token']), 'kept-token')
    t.same(one(docs, 'Secret', 'release-name-chaperone-webhook-tls').data, existing[1]!.data, 'the certificate is reused')
    t.equal(one(docs, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle, 'Q0E=', 'and so is the CA in caBundle')
    const fresh = docsOf(render(['--lookup', lookupFile, ...set({ adminToken: 'explicit' })]))
    t.equal(b64(one(fresh, 'Secret', 'release-name-chaperone-admin').data['admin-token']), 'explicit', 'an explicit token wins')
  })

  t.test('webhook knobs: failurePolicy, replicas', async (t) => {
    const docs = docsOf(render(set({ 'webhook.failurePolicy': 'Ignore', 'webhook.replicas': 1 })))
    t.equal(one(docs, 'MutatingWebhookConfiguration').webhooks[0].failurePolicy, 'Ignore')
    t.equal(find(docs, 'PodDisruptionBudget').length, 0, 'no PodDisruptionBudget for a single replica')
    const bad = run(set({ 'webhook.failurePolicy': 'Sometimes' }))
    t.not(bad.status, 0)
    t.match(bad.stderr, /failurePolicy/)
  })

  t.test('monitoring: ServiceMonitor and PrometheusRule name only metrics Chaperone exports', async (t) => {
    const out = render(set({ 'metrics.serviceMonitor.enabled': true, 'metrics.prometheusRule.enabled': true, 'metrics.serviceMonitor.labels': { release: 'prom' }, 'networkPolicy.chatbotPods.enabled': true }))
    const docs = await checkRendering(t, out, 'monitoring')
    const sm = one(docs, 'ServiceMonitor')
    const metricsSvc = one(docs, 'Service', 'release-name-chaperone-metrics')
    t.equal(sm.metadata.labels.release, 'prom')
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) t.equal(metricsSvc.metadata.labels[k], v, `the ServiceMonitor selects the metrics Service (${k})`)
    t.same(metricsSvc.spec.selector, { 'chaperone.dev/inject': 'true' }, 'every injected pod is a target')
    t.equal(metricsSvc.spec.ports[0].targetPort, 'admin')
    t.equal(sm.spec.endpoints[0].port, 'admin')

    const chatbotNp = one(docs, 'NetworkPolicy', 'release-name-chaperone-chatbot')
    t.same(
      (chatbotNp.spec.ingress as Obj[]).flatMap((i) => i.ports.map((p: Obj) => p.port)),
      ['http', 'admin'],
      "chatbot pods accept only Chaperone's ports; the chatbot's own port is closed",
    )

    const rule = one(docs, 'PrometheusRule')
    const rules = (rule.spec.groups as Obj[]).flatMap((g) => g.rules as Obj[])
    const alerts = new Map(rules.map((r) => [r.alert as string, String(r.expr)]))
    const expected = [
      'ChaperoneLatencyBudgetBurnFast',
      'ChaperoneLatencyBudgetBurnSlow',
      'ChaperoneModerationBlockSpike',
      'ChaperoneModerationBlockingMostAnswers',
      'ChaperoneFalsePositiveReports',
      'ChaperoneModerationShadowDivergence',
      'ChaperoneConfigReloadFailed',
      'ChaperoneRateLimitRedisFallback',
      'ChaperoneCacheRedisDown',
      'ChaperoneUpstreamErrorRate',
      'ChaperoneClassifierCircuitOpen',
      'ChaperoneAuditLoss',
      'ChaperoneAuditBlocking',
      'ChaperoneAuditLagging',
    ]
    t.same([...alerts.keys()].sort(), [...expected].sort(), 'the alerts the README and the runbooks document')
    // Every alert links its runbook, and docs/runbooks.md has a section for each.
    const runbooks = readFileSync(join(root, 'docs/runbooks.md'), 'utf8')
    for (const r of rules) {
      const url = String((r.annotations as Obj).runbook_url)
      t.match(url, new RegExp(`/docs/runbooks\\.md#${String(r.alert).toLowerCase()}$`), `${r.alert} links its runbook`)
      t.match(runbooks, new RegExp(`^## ${r.alert}$`, 'm'), `docs/runbooks.md has a section for ${r.alert}`)
    }
    t.match(alerts.get('ChaperoneModerationBlockSpike'), /by \(namespace, rule\)/, 'the spike alert names the rule')
    t.match(alerts.get('ChaperoneModerationBlockingMostAnswers'), /> 0\.5/, 'half of the answers blocked')
    for (const [name, expr] of alerts) {
      const unknown = metricNames(expr).filter((m) => !knownMetric(m))
      t.same(unknown, [], `${name} selects only exported metrics`)
    }
    const all = [...alerts.values()].join('\n')
    for (const m of ['chaperone_request_duration_seconds_bucket', 'chaperone_moderation_matches_total', 'chaperone_config_last_reload_successful', 'chaperone_ratelimit_mode_seconds_total', 'chaperone_cache_shared_tier_up', 'chaperone_upstream_errors_total', 'chaperone_requests_total', 'chaperone_audit_lost_records_total', 'chaperone_classifier_breaker_state']) {
      t.ok(metricNames(all).includes(m), `some alert watches ${m}`)
    }
    t.match(alerts.get('ChaperoneLatencyBudgetBurnFast'), /le="30"/, 'the SLO threshold is a bucket bound')
    t.match(alerts.get('ChaperoneLatencyBudgetBurnFast'), /\[1h\][\s\S]*\[5m\]/, 'long and short windows')
    t.match(alerts.get('ChaperoneModerationBlockSpike'), /action="block"/)
    const annotations = rules.map((r) => JSON.stringify(r.annotations)).join('\n')
    t.match(annotations, /\{\{ \$labels\.namespace \}\}/, "Prometheus' own templates survive Helm's")

    const dashboard = JSON.parse(readFileSync(join(CHART, 'files/dashboard.json'), 'utf8')) as Obj
    const exprs = (dashboard.panels as Obj[]).flatMap((p) => (p.targets ?? []) as Obj[]).map((x) => String(x.expr))
    t.ok(exprs.length > 20, 'the dashboard has queries')
    for (const expr of exprs) t.same(metricNames(expr).filter((m) => !knownMetric(m)), [], `dashboard: ${expr.slice(0, 60)}…`)

    const badBucket = run(set({ 'metrics.prometheusRule.enabled': true, 'metrics.prometheusRule.latency.thresholdSeconds': '3' }))
    t.not(badBucket.status, 0, 'a latency threshold that is not a bucket bound is refused')
    t.match(badBucket.stderr, /bucket bound/)
  })

  t.test('manual mode: webhook off renders only what the sidecar needs', async (t) => {
    const docs = await checkRendering(t, render(set({ 'webhook.enabled': false })), 'manual mode')
    t.same(docs.map((d) => `${d.obj.kind}/${d.obj.metadata.name}`).sort(), ['ConfigMap/release-name-chaperone-config', 'ConfigMap/release-name-chaperone-dashboard', 'Secret/release-name-chaperone-admin'])
  })

  t.test('chaperone.sidecar in a chart of your own is the container the webhook injects', async (t) => {
    const out = render(['--name', 'shop', '--namespace', 'shop'], CONSUMER)
    const docs = await checkRendering(t, out, 'consumer chart')
    const deploy = one(docs, 'Deployment', 'shop-chatbot')
    const spec = deploy.spec.template.spec
    t.same(spec.containers.map((c: Obj) => c.name), ['chaperone', 'chatbot'])
    const settings = sidecarSettingsSchema.parse({ configMap: 'shop-chaperone-config', adminSecret: 'shop-chaperone-admin', upstreamPort: 3000 })
    t.same(spec.containers[0], sidecarContainer(settings, { listen: 8080, upstream: 3000, admin: 9090 }), 'the same container as src/core/k8s/inject.ts builds')
    t.same(spec.volumes, [
      { name: 'chaperone-config', configMap: { name: 'shop-chaperone-config' } },
      { name: 'chaperone-admin', secret: { secretName: 'shop-chaperone-admin', optional: true } },
    ])
    t.ok(one(docs, 'ConfigMap', 'shop-chaperone-config'), "the dependency renders the ConfigMap the volume names")
    t.ok(one(docs, 'Secret', 'shop-chaperone-admin'))
    t.equal(find(docs, 'MutatingWebhookConfiguration').length, 0)
    t.equal(one(docs, 'Service', 'shop-chatbot').spec.ports[0].targetPort, 'http', "the chatbot's Service targets Chaperone's port")

    const clash = run(['--name', 'shop', ...set({ 'chaperone.sidecar.listenPort': 3000 })], CONSUMER)
    t.not(clash.status, 0, 'listen and upstream ports that collide are refused at render time')
    t.match(clash.stderr, /must differ/)
  })

  t.test('NOTES.txt', async (t) => {
    const notes = render(['--notes', '--name', 'chaperone', '--namespace', 'ai'])
    t.match(notes, /targetPort: http/, 'routing: the Service targets Chaperone')
    t.match(notes, /http:\/\/127\.0\.0\.1:8000/, 'Chaperone forwards to the chatbot on localhost')
    t.match(notes, /chaperone\.dev\/inject":"true"/, 'how to label pods')
    t.match(notes, /kubectl -n ai edit configmap chaperone-config/, 'how to edit a policy')
    t.match(notes, /\/admin\/config/)
    t.match(notes, /chaperone_policy_info/)
    t.notMatch(notes, /<no value>|\{\{/, 'nothing left unrendered')
    const manual = render(['--notes', ...set({ 'webhook.enabled': false })])
    t.match(manual, /include "chaperone\.sidecar"/, 'manual mode shows the include snippet')
    t.notMatch(manual, /chaperone\.dev\/inject":"true"/)
  })
}
