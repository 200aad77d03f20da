import t from 'tap'
import { formatConfigError } from '../../../src/core/config/errors.js'
import { parseProcessConfig, type ProcessConfig } from '../../../src/core/config/process-schema.js'
import { splitHostPort } from '../../../src/core/config/listen.js'
import { auditConfigSchema } from '../../../src/core/audit/config-schema.js'

const F = 'chaperone.yaml'

function errorsOf(text: string): string[] {
  const r = parseProcessConfig(F, text)
  if (r.ok) throw new Error('expected errors')
  return r.errors.map(formatConfigError)
}

function configOf(text: string | undefined): ProcessConfig {
  const r = parseProcessConfig(F, text)
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join('\n'))
  return r.config
}

const DEFAULTS: ProcessConfig = {
  listen: '0.0.0.0:8080',
  upstream: { url: 'http://127.0.0.1:8000', connections: 1024, timeouts: { connectMs: 2000, headersMs: 30000, idleMs: 60000, totalMs: 600000 } },
  admin: { listen: '127.0.0.1:9090', tokenFile: null, tokenEnv: 'CHAPERONE_ADMIN_TOKEN' },
  limits: { maxRequestBodyBytes: 10485760, maxHeaderBytes: 16384, maxEventBytes: 1048576, maxJsonBodyBytes: 10485760, drainTimeoutMs: 30000 },
  reload: { debounceMs: 250, hashCheckIntervalMs: 10000 },
  redis: { url: null, keyPrefix: 'chaperone' },
  rateLimits: { onRedisError: 'local', replicas: 'auto', commandTimeoutMs: 20, probeMs: 1000 },
  cache: { memoryBytes: 67108864, inflightBytes: 67108864, commandTimeoutMs: 50, probeMs: 1000 },
  clientIp: { trustedHops: 0 },
  revocations: { pollMs: 250, maxEntries: 100000 },
  telemetry: { logLevel: 'info', accessLog: false },
  // The audit block's own defaults are tested with it (test/audit); here: off, and present.
  audit: auditConfigSchema.parse(undefined),
}

t.test('an absent, empty or comment-only file is all defaults', async (t) => {
  t.same(configOf(undefined), DEFAULTS)
  t.same(configOf(''), DEFAULTS)
  t.same(configOf('# nothing here\n'), DEFAULTS)
})

t.test('defaults fill in around the keys given, at every depth', async (t) => {
  const c = configOf('upstream:\n  timeouts:\n    idleMs: 5\nadmin:\n  tokenFile: /etc/token\n')
  t.equal(c.upstream.timeouts.idleMs, 5)
  t.equal(c.upstream.timeouts.totalMs, 600000)
  t.equal(c.upstream.connections, 1024)
  t.equal(c.admin.tokenFile, '/etc/token')
  t.equal(c.admin.tokenEnv, 'CHAPERONE_ADMIN_TOKEN')
  t.same(c.limits, DEFAULTS.limits)
})

t.test('unknown keys are errors naming file and path, at several depths', async (t) => {
  t.same(errorsOf('lisen: 0.0.0.0:1\n'), ['chaperone.yaml:lisen: unknown key'])
  t.same(errorsOf('upstream:\n  urll: http://x\n'), ['chaperone.yaml:upstream.urll: unknown key'])
  t.same(errorsOf('upstream:\n  timeouts:\n    idle: 5\n    total: 6\n'), [
    'chaperone.yaml:upstream.timeouts.idle: unknown key',
    'chaperone.yaml:upstream.timeouts.total: unknown key',
  ])
  t.same(errorsOf('redis: { url: null, password: x }\n'), ['chaperone.yaml:redis.password: unknown key'])
})

t.test('errors carry the line of the offending key', async (t) => {
  const r = parseProcessConfig(F, 'listen: 0.0.0.0:1\nupstream:\n  timeouts:\n    idle: 5\n')
  t.equal(r.ok, false)
  if (!r.ok) t.match(r.errors[0], { path: 'upstream.timeouts.idle', line: 4, col: 5 })
})

t.test('wrong types', async (t) => {
  t.match(errorsOf('upstream:\n  connections: many\n'), [/^chaperone\.yaml:upstream\.connections: .*expected number/])
  t.match(errorsOf('limits:\n  maxEventBytes: 1.5\n'), [/^chaperone\.yaml:limits\.maxEventBytes: .*int/i])
  t.match(errorsOf('reload: 5\n'), [/^chaperone\.yaml:reload: .*expected object/])
  t.match(errorsOf('telemetry:\n  logLevel: loud\n'), [/^chaperone\.yaml:telemetry\.logLevel: .*"info"/])
  t.match(errorsOf('upstream:\n  timeouts:\n    connectMs: 0\n'), [/^chaperone\.yaml:upstream\.timeouts\.connectMs: /])
  t.match(errorsOf('- a\n- b\n'), [/^chaperone\.yaml:\(root\): .*expected object/])
})

t.test('listen addresses', async (t) => {
  t.equal(configOf('listen: "[::]:8080"\n').listen, '[::]:8080')
  t.equal(configOf('admin:\n  listen: localhost:0\n').admin.listen, 'localhost:0')
  for (const bad of ['8080', ':8080', '0.0.0.0', '0.0.0.0:99999', '0.0.0.0:80a', '::1:8080', '[nothost]:80', '256.1.1.1:80', 'bad_host:80', '0.0.0.0:-1']) {
    t.match(errorsOf(`listen: "${bad}"\n`), ['chaperone.yaml:listen: expected host:port, e.g. 0.0.0.0:8080 or [::]:8080'], bad)
  }
  t.same(splitHostPort('[::1]:9090'), { host: '::1', port: 9090 })
  t.same(splitHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 })
  t.equal(splitHostPort('[::1]'), undefined)
})

t.test('upstream.url must be a plain http origin', async (t) => {
  t.equal(configOf('upstream:\n  url: http://localhost:9000/\n').upstream.url, 'http://localhost:9000/')
  t.equal(configOf('upstream:\n  url: http://[::1]:9000\n').upstream.url, 'http://[::1]:9000')
  t.same(errorsOf('upstream:\n  url: https://x:1\n'), ['chaperone.yaml:upstream.url: only http:// is supported (the chatbot is on localhost)'])
  t.same(errorsOf('upstream:\n  url: http://x:1/v1\n'), ['chaperone.yaml:upstream.url: must be an origin with no path, query or fragment'])
  t.same(errorsOf('upstream:\n  url: http://x:1/?a=1\n'), ['chaperone.yaml:upstream.url: must be an origin with no path, query or fragment'])
  t.same(errorsOf('upstream:\n  url: http://u:p@x:1\n'), ['chaperone.yaml:upstream.url: credentials are not allowed in the URL'])
  t.same(errorsOf('upstream:\n  url: not a url\n'), ['chaperone.yaml:upstream.url: not a valid URL'])
})

t.test('admin token sources and redis url', async (t) => {
  t.equal(configOf('admin:\n  tokenEnv: null\n').admin.tokenEnv, null)
  t.match(errorsOf('admin:\n  tokenEnv: "MY-TOKEN"\n'), ['chaperone.yaml:admin.tokenEnv: expected an environment variable name'])
  t.equal(configOf('redis:\n  url: redis://redis:6379/0\n').redis.url, 'redis://redis:6379/0')
  t.same(errorsOf('redis:\n  url: http://redis\n'), ['chaperone.yaml:redis.url: expected a redis:// or rediss:// URL'])
})

t.test('YAML problems name the file and the line', async (t) => {
  t.match(errorsOf('listen: 0.0.0.0:1\nlisten: 0.0.0.0:2\n'), [/^chaperone\.yaml:\(root\): YAML syntax error: Map keys must be unique at line 2, column 1$/])
  t.match(errorsOf('upstream:\n  url: [http://x\n'), [/^chaperone\.yaml:\(root\): YAML syntax error: .* at line \d+, column \d+$/])
  t.same(errorsOf('listen: a:1\n---\nlisten: b:1\n'), ['chaperone.yaml:(root): expected a single YAML document'])
})
