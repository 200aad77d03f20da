import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type http from 'node:http'
import { parseProcessConfig, processConfigSchema, PROCESS_CONFIG_FILE, type ProcessConfig } from './core/config/process-schema.js'
import { issuesToErrors } from './core/config/issues.js'
import { formatConfigError, type ConfigError } from './core/config/errors.js'
import { splitHostPort } from './core/config/listen.js'
import { SnapshotStore } from './core/config/store.js'
import { FILTER_FACTORIES } from './core/filters/registry.js'
import type { FilterFactory } from './core/chain/types.js'
import { readConfigDir } from './io/config/read-dir.js'
import { ConfigReloader, type ReloadResult } from './io/config/reloader.js'
import { ConfigWatcher } from './io/config/watcher.js'
import { createAdminServer } from './io/admin.js'
import { createLogger, type Logger } from './io/logger.js'
import { Metrics } from './io/metrics.js'
import { Upstream } from './io/upstream.js'
import { createProxyServer, type ProxyServer } from './server.js'
import { runCheck } from './core/filters/moderation/check.js'
import type { Classifier, PenaltyStore, Ports, RevocationStore } from './core/ports.js'
import { JwksRegistry } from './io/jwks/registry.js'
import { PolicyFileReader } from './io/config/policy-files.js'
import { connectRedis } from './io/redis/connect.js'
import { MemoryRevocationStore, RedisRevocationStore } from './io/revocation/index.js'
import { FallbackLimiter } from './io/ratelimit/fallback-limiter.js'
import { MemoryLimiter } from './io/ratelimit/memory-limiter.js'
import { RedisLimiter } from './io/ratelimit/redis-limiter.js'
import { MemoryPenaltyStore, RedisPenaltyStore } from './io/ratelimit/penalty-store.js'
import type { Redis } from 'ioredis'
import { CacheStats } from './io/cache/stats.js'
import { MemoryTier } from './io/cache/memory-tier.js'
import { RedisTier } from './io/cache/redis-tier.js'
import { TieredStore } from './io/cache/tiered-store.js'
import { WarmJobs } from './io/cache/warm.js'
import { PolicyClassifierLoader } from './io/classifier/loader.js'
import { ClassifierMetrics } from './io/classifier/metrics.js'
import { startTracing } from './io/telemetry/tracing.js'
import { createAuditWriter } from './io/audit/create.js'
import { registerAuditMetrics } from './io/audit/metrics.js'
import { decisionRecorder } from './io/audit/decision-recorder.js'
import type { AuditWriter } from './io/audit/writer.js'
import { resolveWriterName } from './core/audit/writer-name.js'
import { hostname } from 'node:os'

/** The most any cache route may store per entry (spec.cache.routes[].maxEntryBytes); the decoder's bound. */
const MAX_CACHE_ENTRY_BYTES = 64 * 1024 * 1024

export interface Overrides {
  listen?: string
  upstream?: string
  admin?: string
}

export interface StartOptions {
  configDir: string
  overrides?: Overrides
  env?: Readonly<Record<string, string | undefined>>
  /** Log destination; stdout when absent. */
  logDestination?: NodeJS.WritableStream
  /** The filter factories, in chain order; the built-in registry unless a test plugs in its own. */
  factories?: readonly FilterFactory[]
  /** Replaces chaperone.yaml values after overrides (tests use it to shorten timeouts). */
  adjust?: (c: ProcessConfig) => ProcessConfig
  /** Classifiers moderation rules can name; the ONNX adapter plugs in here. */
  classifiers?: ReadonlyMap<string, Classifier>
  /** Wall clock for time-of-day conditions (tests pin it). */
  now?: () => Date
}

export interface Running {
  readonly proxyUrl: string
  readonly adminUrl: string
  readonly config: ProcessConfig
  readonly store: SnapshotStore
  readonly metrics: Metrics
  readonly log: Logger
  reload(reason: string): Promise<ReloadResult>
  /** Graceful stop: drain in-flight exchanges up to the configured timeout, then close everything. */
  stop(): Promise<{ cut: number }>
}

export class StartupError extends Error {
  constructor(readonly errors: readonly ConfigError[]) {
    super(errors.map(formatConfigError).join('\n'))
    this.name = 'StartupError'
  }
}

/** In the start record of the audit log. */
const CHAPERONE_VERSION = '0.1.0'

/** audit.requiredRoutes: exact paths, or prefixes written with a trailing "*". */
function requiredRoutes(patterns: readonly string[]): (path: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')))
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1))
  return (path) => exact.has(path) || prefixes.some((p) => path.startsWith(p))
}

/** Reads chaperone.yaml and applies CLI/env overrides, validating the result as one config. */
export async function loadProcessConfig(dir: string, overrides: Overrides = {}): Promise<ProcessConfig> {
  const files = await readConfigDir(dir)
  const parsed = parseProcessConfig(PROCESS_CONFIG_FILE, files.processFile?.content)
  if (!parsed.ok) throw new StartupError(parsed.errors)
  const c = parsed.config
  // Overrides go through the same schema, so a bad --upstream is reported like a bad file value.
  const merged = processConfigSchema.safeParse({
    ...c,
    listen: overrides.listen ?? c.listen,
    admin: { ...c.admin, listen: overrides.admin ?? c.admin.listen },
    upstream: { ...c.upstream, url: overrides.upstream ?? c.upstream.url },
  })
  if (!merged.success) throw new StartupError(issuesToErrors(merged.error.issues, { file: '(command line or environment)' }))
  return merged.data
}

async function readAdminToken(c: ProcessConfig, env: Readonly<Record<string, string | undefined>>): Promise<string | undefined> {
  if (c.admin.tokenFile) return (await readFile(c.admin.tokenFile, 'utf8')).trim() || undefined
  if (c.admin.tokenEnv) return env[c.admin.tokenEnv]?.trim() || undefined
  return undefined
}

export async function startChaperone(opts: StartOptions): Promise<Running> {
  const env = opts.env ?? {}
  let config = await loadProcessConfig(opts.configDir, opts.overrides)
  if (opts.adjust) config = opts.adjust(config)
  const log = createLogger(config.telemetry.logLevel, opts.logDestination)
  const metrics = new Metrics()
  const store = new SnapshotStore()
  const upstream = new Upstream({ url: config.upstream.url, connections: config.upstream.connections, timeouts: config.upstream.timeouts })

  const redis: Redis | undefined = config.redis.url ? connectRedis(config.redis.url, { name: 'chaperone', log }) : undefined
  const nowMs = opts.now ? () => opts.now!().getTime() : Date.now
  const revocations: RevocationStore & { close?(): void } = redis
    ? new RedisRevocationStore({ redis, keyPrefix: config.redis.keyPrefix, pollMs: config.revocations.pollMs, maxEntries: config.revocations.maxEntries, now: nowMs, log })
    : new MemoryRevocationStore({ now: nowMs, maxEntries: config.revocations.maxEntries })
  if (redis) await untilReady(redis)
  if (revocations instanceof RedisRevocationStore) await revocations.start()
  // Its own connection: a rate-limit check waits at most rateLimits.commandTimeoutMs (20 ms by
  // default), far less than revocation sync may.
  const limiterRedis: Redis | undefined = config.redis.url ? connectRedis(config.redis.url, { name: 'chaperone-ratelimit', log, commandTimeoutMs: config.rateLimits.commandTimeoutMs }) : undefined
  const rateLimits = limiterRedis
    ? new FallbackLimiter({
        shared: new RedisLimiter({ redis: limiterRedis, keyPrefix: config.redis.keyPrefix }),
        redis: limiterRedis,
        keyPrefix: config.redis.keyPrefix,
        onRedisError: config.rateLimits.onRedisError,
        replicas: config.rateLimits.replicas,
        probeMs: config.rateLimits.probeMs,
        log,
      })
    : new MemoryLimiter()
  if (rateLimits instanceof FallbackLimiter) metrics.rateLimitModes(() => rateLimits.modeSeconds())
  const penalties = limiterRedis ? skipWhileDown(new RedisPenaltyStore({ redis: limiterRedis, keyPrefix: config.redis.keyPrefix }), () => !(rateLimits instanceof FallbackLimiter) || rateLimits.redisHealthy) : new MemoryPenaltyStore()
  // Serve once the limiter's connection is up, so the first checks do not time out into the
  // fallback just because the socket was still connecting.
  if (limiterRedis) await untilReady(limiterRedis)
  const cacheStats = new CacheStats()
  const cacheRedis: Redis | undefined = config.redis.url ? connectRedis(config.redis.url, { name: 'chaperone-cache', log, commandTimeoutMs: Math.max(1000, config.cache.commandTimeoutMs) }) : undefined
  const cacheMemory = new MemoryTier({ maxBytes: config.cache.memoryBytes, events: cacheStats })
  let cacheStore: TieredStore | undefined
  const cacheShared = cacheRedis
    ? new RedisTier({ redis: cacheRedis, keyPrefix: config.redis.keyPrefix, maxEntryBytes: MAX_CACHE_ENTRY_BYTES, events: cacheStats, onInvalidate: (sel) => cacheStore?.invalidateLocal(sel), log })
    : undefined
  cacheStore = new TieredStore({ l1: cacheMemory, ...(cacheShared ? { l2: cacheShared } : {}), timeoutMs: config.cache.commandTimeoutMs, probeMs: config.cache.probeMs, events: cacheStats, log })
  metrics.cache(cacheStats, () => cacheMemory.stats(), () => ({ none: undefined, up: 1, down: 0 })[cacheStore.health().shared])
  if (cacheRedis) await untilReady(cacheRedis)
  const jwks = new JwksRegistry({ log, now: nowMs, onFetch: (uri, outcome) => metrics.jwksFetch(uri, outcome) })
  const policyFiles = new PolicyFileReader(opts.configDir)
  // The audit log starts before the first policy loads, so that the startup reload is recorded.
  const auditRedis: Redis | undefined = config.audit.enabled && config.redis.url && (config.audit.pseudonyms.mode === 'per-subject' || config.audit.checkpoints.copy.to === 'redis') ? connectRedis(config.redis.url, { name: 'chaperone-audit', log }) : undefined
  const audit: AuditWriter | undefined = config.audit.enabled
    ? await createAuditWriter(config.audit, {
        writer: resolveWriterName(config.audit.writer, env.POD_NAME, hostname()),
        pid: process.pid,
        version: CHAPERONE_VERSION,
        stdout: process.stdout,
        ...(auditRedis ? { redis: auditRedis } : {}),
        keyPrefix: config.redis.keyPrefix,
        log,
      })
    : undefined
  if (audit) registerAuditMetrics(metrics.registry, () => audit.stats())
  const required = requiredRoutes(config.audit.requiredRoutes)
  let classifierLoader: PolicyClassifierLoader | undefined = undefined
  const classifierMetrics = new ClassifierMetrics(metrics.registry, () => classifierLoader?.queueDepths() ?? new Map())
  classifierLoader = new PolicyClassifierLoader({ files: policyFiles, env, metrics: classifierMetrics, log })
  const ports: Ports = {
    moderationMetrics: metrics.moderation,
    authzMetrics: metrics.authz,
    jwks,
    policyFiles,
    revocations,
    rateLimits,
    penalties,
    rateLimitMetrics: metrics.rateLimits,
    cache: cacheStore,
    cacheMetrics: cacheStats,
    cacheFlightBytes: config.cache.inflightBytes,
    classifierLoader,
    ...(audit ? { auditMatches: true } : {}),
    ...(opts.classifiers ? { classifiers: opts.classifiers } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  }
  const factories = opts.factories ?? FILTER_FACTORIES
  let auditedVersion: string | null = null
  const reloader = new ConfigReloader({
    dir: opts.configDir,
    factories,
    ports,
    policyFiles,
    store,
    log,
    detectSubPath: true,
    onResult: (r) => {
      metrics.reload(r.outcome)
      const s = store.current()
      if (s) metrics.policy(s.version, s.digest)
      if (audit && r.outcome !== 'unchanged') {
        audit.emit({ kind: 'reload', oldVersion: auditedVersion, newVersion: s ? String(s.version) : null, outcome: r.outcome, reason: r.reason, errors: r.errors?.length ?? 0 })
      }
      auditedVersion = s ? String(s.version) : null
    },
  })
  const first = await reloader.reload('startup')
  if (first.outcome === 'error') log.error({ errors: first.errors?.map(formatConfigError) }, 'no valid policy at startup; serving not_ready until one loads')

  const watcher = new ConfigWatcher({
    dir: opts.configDir,
    debounceMs: config.reload.debounceMs,
    hashCheckIntervalMs: config.reload.hashCheckIntervalMs,
    onChange: (reason) => reloader.reload(reason),
    lastFingerprint: () => reloader.lastFingerprint,
    fingerprint: () => reloader.fingerprintNow(),
    log,
  })
  await watcher.start()
  // Warm the key caches so the first request does not wait on the identity provider.
  void jwks.prefetchAll()

  const proxy: ProxyServer = createProxyServer({
    store,
    upstream,
    metrics,
    log,
    limits: config.limits,
    requestTimeoutMs: config.upstream.timeouts.totalMs,
    tunnel: { connectMs: config.upstream.timeouts.connectMs, idleMs: config.upstream.timeouts.idleMs },
    accessLog: config.telemetry.accessLog,
    trustedHops: config.clientIp.trustedHops,
    ...(audit ? { audit: { accepting: () => audit.accepting(), required } } : {}),
    onDecisions: decisionRecorder({ ...(audit ? { writer: audit } : {}), count: (f, rule, action, region, shadow) => metrics.decision(f, rule, action, region, shadow) }),
  })
  const admin = createAdminServer({
    metrics,
    log,
    token: await readAdminToken(config, env),
    ready: () => store.current() !== undefined && !stopping,
    configStatus: () => configStatus(store),
    reload: (reason) => reloader.reload(reason),
    revocations,
    jwksStatus: () => jwks.status(),
    ...(audit ? { audit: { stats: () => audit.stats(), ...(config.audit.pseudonyms.mode === 'per-subject' ? { forget: (subject: string) => audit.forget(subject) } : {}) } } : {}),
    cache: {
      store: cacheStore,
      stats: cacheStats,
      memory: () => cacheMemory.stats(),
      health: () => cacheStore.health(),
      warm: new WarmJobs({ proxyUrl: () => proxyUrl, log }),
    },
    moderationCheck: async (body) => {
      const out = await runCheck(body, store.current()?.chain, factories, ports)
      if (!out.ok) return { status: out.status, body: { error: 'bad_request', errors: out.errors } }
      if (!out.result) return { status: 404, body: { error: 'not_found', message: `the ${out.source} policy has no moderation rules` } }
      return { status: 200, body: { policy: out.source, ...(out.source === 'active' ? { version: store.current()?.version } : {}), ...out.result } }
    },
  })

  let stopping = false
  // Before the listener opens, so the first request is traced too.
  const tracing = config.telemetry.traces ? await startTracing(config.telemetry.traces, log) : undefined
  const proxyAddr = await listen(proxy.server, config.listen)
  const adminAddr = await listen(admin, config.admin.listen)
  const proxyUrl = urlOf(proxyAddr)
  const adminUrl = urlOf(adminAddr)
  log.info({ proxy: proxyUrl, admin: adminUrl, upstream: config.upstream.url, policyVersion: store.current()?.version }, 'chaperone listening')

  return {
    proxyUrl,
    adminUrl,
    config,
    store,
    metrics,
    log,
    reload: (reason) => reloader.reload(reason),
    async stop() {
      stopping = true
      await watcher.close()
      const result = await proxy.drain(config.limits.drainTimeoutMs)
      admin.close()
      admin.closeAllConnections()
      revocations.close?.()
      if (rateLimits instanceof FallbackLimiter) await rateLimits.close()
      redis?.disconnect()
      limiterRedis?.disconnect()
      await cacheShared?.close()
      cacheRedis?.disconnect()
      await upstream.destroy()
      await classifierLoader.close()
      // After the drain: the records of the requests that finished are written and synced.
      if (audit) {
        const complete = await audit.close(config.limits.drainTimeoutMs)
        if (!complete) log.error({}, 'the audit log could not write every queued record before exit')
      }
      auditRedis?.disconnect()
      // Last: the drained requests' spans are buffered until this exports them.
      await tracing?.shutdown()
      log.info({ cut: result.cut }, 'chaperone stopped')
      return result
    },
  }
}

function configStatus(store: SnapshotStore): unknown {
  const s = store.current()
  const err = store.lastError
  return {
    version: s?.version ?? null,
    digest: s?.digest ?? null,
    loadedAt: s?.loadedAt.toISOString() ?? null,
    files: s?.files ?? [],
    policies: s?.policies ?? [],
    warnings: s?.warnings.map(formatConfigError) ?? [],
    lastAttemptAt: store.lastAttemptAt?.toISOString() ?? null,
    lastError: err ? { at: err.at.toISOString(), errors: err.messages } : null,
  }
}

async function listen(server: http.Server, hostPort: string): Promise<AddressInfo> {
  const hp = splitHostPort(hostPort)
  if (!hp) throw new StartupError([{ file: PROCESS_CONFIG_FILE, path: 'listen', message: `bad address ${hostPort}` }])
  server.listen(hp.port, hp.host)
  await once(server, 'listening')
  return server.address() as AddressInfo
}

function urlOf(a: AddressInfo): string {
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address
  return `http://${host}:${a.port}`
}

/**
 * Waits (at most 2 s) for a connection to be ready. A Redis that is down at boot must not keep the
 * sidecar from starting: each feature then follows its own policy for a Redis that is away.
 */
async function untilReady(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    once(redis, 'ready').catch(() => undefined),
    new Promise<void>((r) => (timer = setTimeout(r, 2000))),
  ])
  clearTimeout(timer)
}

/**
 * The penalty box shares the rate limiter's Redis: while the limiter knows Redis is down, a box
 * check would only wait out the command timeout on every request, so it is skipped (not
 * enforced) until the limiter's probe finds Redis again.
 */
function skipWhileDown(store: PenaltyStore, healthy: () => boolean): PenaltyStore {
  return {
    boxedFor: (key) => (healthy() ? store.boxedFor(key) : Promise.reject(new Error('redis unavailable (rate limiter fallback)'))),
    report: (key, points, cfg) => (healthy() ? store.report(key, points, cfg) : Promise.reject(new Error('redis unavailable (rate limiter fallback)'))),
  }
}

/** Wires process signals: SIGTERM/SIGINT drain and exit 0, SIGHUP reloads. */
export function installSignalHandlers(running: Running): void {
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    running.log.info({ signal }, 'draining')
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        running.log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGHUP', () => void running.reload('SIGHUP'))
}
