/**
 * `chaperone.yaml`: the process configuration, read once at start (a change needs a restart).
 * Closed at every depth; every key is optional and defaulted, so an absent file is valid.
 */
import { z } from 'zod'
import { ROOT_PATH, type ConfigError } from './errors.js'
import { issuesToErrors } from './issues.js'
import { splitHostPort } from './listen.js'
import { parseYamlFile } from './yaml.js'
import { tracesConfigSchema } from '../telemetry/config-schema.js'
import { auditConfigProblems, auditConfigSchema } from '../audit/config-schema.js'

export const PROCESS_CONFIG_FILE = 'chaperone.yaml'

const listen = (def: string) =>
  z
    .string()
    .refine((s) => splitHostPort(s) !== undefined, { message: 'expected host:port, e.g. 0.0.0.0:8080 or [::]:8080' })
    .default(def)

const ms = (def: number, description: string) => z.number().int().min(1).default(def).describe(description)
const bytes = (def: number, description: string) => z.number().int().min(1).default(def).describe(description)

/**
 * Only a plain-HTTP origin: the chatbot listens on localhost in the same pod, and the request
 * path is forwarded as received, so a base path would silently rewrite every route.
 */
const upstreamUrl = z
  .string()
  .superRefine((s, ctx) => {
    const problem = upstreamUrlProblem(s)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })
  .default('http://127.0.0.1:8000')
  .describe('Origin of the chatbot, http:// only, no path (requests keep their own path).')

function upstreamUrlProblem(s: string): string | undefined {
  let u: URL
  try {
    u = new URL(s)
  } catch {
    return 'not a valid URL'
  }
  if (u.protocol !== 'http:') return 'only http:// is supported (the chatbot is on localhost)'
  if (u.username || u.password) return 'credentials are not allowed in the URL'
  if (u.pathname !== '/' || u.search || u.hash) return 'must be an origin with no path, query or fragment'
  return undefined
}

const redisUrl = z
  .string()
  .refine((s) => /^rediss?:\/\/./.test(s) && URL.canParse(s), { message: 'expected a redis:// or rediss:// URL' })
  .nullable()
  .default(null)

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')

export const processConfigSchema = z
  .strictObject({
    listen: listen('0.0.0.0:8080').describe('Address of the proxy listener, host:port.'),
    upstream: z
      .strictObject({
        url: upstreamUrl,
        connections: z.number().int().min(1).max(65536).default(1024).describe('Most connections to the upstream at once. Each in-flight request or stream holds one (HTTP/1.1), so a smaller pool queues streams behind each other.'),
        timeouts: z
          .strictObject({
            connectMs: ms(2000, 'Time to establish a connection to the upstream.'),
            headersMs: ms(30000, 'Time until the upstream sends response headers.'),
            idleMs: ms(60000, 'Longest gap between two body chunks of a response (stream idle).'),
            totalMs: ms(600000, 'Longest whole exchange, stream included.'),
          })
          .prefault({}),
      })
      .prefault({}),
    admin: z
      .strictObject({
        listen: listen('127.0.0.1:9090').describe('Address of the admin listener (metrics, /admin/*), host:port.'),
        tokenFile: z.string().min(1).nullable().default(null).describe('File holding the admin bearer token; wins over tokenEnv.'),
        tokenEnv: envName.nullable().default('CHAPERONE_ADMIN_TOKEN').describe('Environment variable holding the admin bearer token.'),
      })
      .prefault({}),
    limits: z
      .strictObject({
        maxRequestBodyBytes: bytes(10485760, 'Largest request body accepted.'),
        maxHeaderBytes: bytes(16384, 'Largest request header block accepted.'),
        maxEventBytes: bytes(1048576, 'Largest single SSE event from the upstream.'),
        maxJsonBodyBytes: bytes(10485760, 'Largest JSON response body a transform may buffer.'),
        drainTimeoutMs: ms(30000, 'On shutdown, how long in-flight requests may take to finish.'),
      })
      .prefault({}),
    reload: z
      .strictObject({
        debounceMs: z.number().int().min(0).default(250).describe('Quiet time after a change before policies reload.'),
        hashCheckIntervalMs: z
          .number()
          .int()
          .min(0)
          .default(10000)
          .describe('Period of the content check that catches missed file events; 0 disables it.'),
      })
      .prefault({}),
    redis: z
      .strictObject({
        url: redisUrl.describe('Redis for shared revocations, rate limits and cache; null keeps state in memory (one replica).'),
        keyPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, "_", ".", ":" and "-"')
          .default('chaperone')
          .describe('Hash tag of every key Chaperone writes ({chaperone}:…), so multi-key scripts run on Redis Cluster; change it to share one Redis between deployments.'),
      })
      .prefault({}),
    rateLimits: z
      .strictObject({
        onRedisError: z
          .enum(['local', 'allow', 'deny'])
          .default('local')
          .describe('When Redis fails: local runs the same limits in memory with each limit divided by the replica count; allow admits; deny refuses. Counted in chaperone_ratelimit_mode_seconds_total.'),
        replicas: z
          .union([z.literal('auto'), z.number().int().min(1).max(10_000)])
          .default('auto')
          .describe('Replica count for the local fallback: a number, or auto (learned from per-replica heartbeat keys while Redis was up).'),
        commandTimeoutMs: z.number().int().min(1).max(5000).default(20).describe('Longest a rate-limit check waits for Redis before the fallback decides.'),
        probeMs: z.number().int().min(50).max(60_000).default(1000).describe('While Redis is failing, how often one check tries it again.'),
      })
      .prefault({}),
    cache: z
      .strictObject({
        memoryBytes: z.number().int().min(1024 * 1024).max(64 * 1024 ** 3).default(64 * 1024 * 1024).describe('Bound of the in-process tier (L1), in bytes; at least 1 MiB.'),
        inflightBytes: z.number().int().min(1024 * 1024).max(64 * 1024 ** 3).default(64 * 1024 * 1024).describe('Bytes the answers of every cache miss in flight may hold together while they are recorded; past it a miss still streams but is not stored.'),
        commandTimeoutMs: z.number().int().min(1).max(5000).default(50).describe('Longest a cache read or write waits for Redis (L2); past it the request goes on as a miss, with the memory tier only.'),
        probeMs: z.number().int().min(50).max(60_000).default(1000).describe('After a Redis failure, L2 is bypassed for this long, then one request tries it again.'),
      })
      .prefault({})
      .describe('Response cache tiers; routes are configured in policies (spec.cache).'),
    clientIp: z
      .strictObject({
        trustedHops: z.number().int().min(0).max(10).default(0).describe('Proxies in front of Chaperone that each append to X-Forwarded-For (an ingress, a mesh gateway). 0: the client is the socket peer; N: the N-th X-Forwarded-For entry from the right. Never more than really exist: the client could then pick its own address.'),
      })
      .prefault({}),
    revocations: z
      .strictObject({
        pollMs: z.number().int().min(50).max(1000).default(250).describe('How often each replica checks Redis for revocation changes; a revocation is visible everywhere within about this.'),
        maxEntries: z.number().int().min(1).max(10_000_000).default(100000).describe('Most revocations kept; adding more is refused (507).'),
      })
      .prefault({}),
    telemetry: z
      .strictObject({
        logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
        accessLog: z.boolean().default(false).describe('Log one line per request (off by default, as in Envoy and Istio: it costs CPU on every request).'),
        traces: tracesConfigSchema,
      })
      .prefault({}),
    audit: auditConfigSchema,
  })
  .superRefine((c, ctx) => {
    for (const p of auditConfigProblems(c.audit, { redisConfigured: c.redis.url !== null })) ctx.addIssue({ code: 'custom', path: ['audit', ...p.path], message: p.message })
  })
  .prefault({})

export type ProcessConfig = z.output<typeof processConfigSchema>
/** What an operator may write: every key optional. */
export type ProcessConfigInput = z.input<typeof processConfigSchema>

export type ProcessConfigResult = { ok: true; config: ProcessConfig } | { ok: false; errors: ConfigError[] }

/** `text` undefined means the file is absent: every default applies. */
export function parseProcessConfig(fileName: string, text: string | undefined): ProcessConfigResult {
  if (text === undefined) return { ok: true, config: processConfigSchema.parse(undefined) }
  const parsed = parseYamlFile(fileName, text)
  if (!parsed.ok) return parsed
  const [doc, extra] = parsed.docs
  if (extra) return { ok: false, errors: [{ file: fileName, path: ROOT_PATH, message: 'expected a single YAML document' }] }
  // An empty file (or one with only comments) is all defaults, like an absent one.
  const result = processConfigSchema.safeParse(doc?.value ?? undefined)
  if (result.success) return { ok: true, config: result.data }
  const errors = issuesToErrors(result.error.issues, { file: fileName, ...(doc ? { locate: doc.locate } : {}) })
  return { ok: false, errors }
}
