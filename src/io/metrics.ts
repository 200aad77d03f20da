import { monitorEventLoopDelay } from 'node:perf_hooks'
import client from 'prom-client'
import type { AuthzMetricsPort, ModerationMetricsPort, RateLimitMetricsPort } from '../core/ports.js'
import { hitRatio, type CacheStats } from './cache/stats.js'
import { MAX_REPORTED_RULES } from './admin-false-positives.js'

/** Distinct region label values on chaperone_decisions_total; the rest count as "other". */
const MAX_REGIONS = 64

/**
 * Prometheus metrics for the admin port. Each instance has its own registry, so several
 * Chaperones (in tests) never share counters. Labelled children are cached because the data
 * path records on every request and prom-client hashes label values on each `labels()` call.
 */
export class Metrics {
  readonly registry = new client.Registry()
  readonly #requests = new client.Counter({ name: 'chaperone_requests_total', help: 'Requests by route and response status.', labelNames: ['route', 'status'], registers: [this.registry] })
  readonly #duration = new client.Histogram({
    name: 'chaperone_request_duration_seconds',
    help: 'Time from request start to the end of the response, by route.',
    labelNames: ['route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  })
  readonly #firstByte = new client.Histogram({
    name: 'chaperone_time_to_first_byte_seconds',
    help: 'Time from the request to the first body byte sent to the client, by route: for a stream, the time to the first token as the client sees it.',
    labelNames: ['route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  })
  readonly #firstByteChildren = new Map<string, client.Histogram.Internal<'route'>>()
  readonly #eventLatency = new client.Histogram({
    name: 'chaperone_event_latency_seconds',
    help: 'Time an upstream body chunk (usually one SSE event) spends in the response filters (moderation hold-back included) before its bytes are written to the client. Pass-through responses are not measured: they add nothing.',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  })
  readonly #upstreamErrors = new client.Counter({ name: 'chaperone_upstream_errors_total', help: 'Upstream failures by error code.', labelNames: ['code'], registers: [this.registry] })
  readonly #refusals = new client.Counter({ name: 'chaperone_refusals_total', help: 'Requests Chaperone answered itself with an error, by code.', labelNames: ['code'], registers: [this.registry] })
  readonly #clientErrors = new client.Counter({ name: 'chaperone_client_protocol_errors_total', help: 'Connections refused by the HTTP parser (malformed, smuggling attempts, oversized headers).', labelNames: ['code'], registers: [this.registry] })
  // Gauges of in-flight work are plain counters read at scrape time: nothing per request.
  readonly #live = { streams: 0, inflight: 0, tunnels: 0 }
  readonly #tunnelsOpened = new client.Counter({ name: 'chaperone_websocket_tunnels_total', help: 'WebSocket tunnels opened.', registers: [this.registry] })
  readonly #reloads = new client.Counter({ name: 'chaperone_config_reloads_total', help: 'Policy reloads by outcome (success, unchanged, error).', labelNames: ['outcome'], registers: [this.registry] })
  readonly #lastReloadOk = new client.Gauge({ name: 'chaperone_config_last_reload_successful', help: '1 when the last reload attempt succeeded or changed nothing, 0 when it failed and an older policy is active.', registers: [this.registry] })
  readonly #policyInfo = new client.Gauge({ name: 'chaperone_policy_info', help: 'The active policy snapshot (value is always 1).', labelNames: ['version', 'digest'], registers: [this.registry] })

  readonly #moderationMatches = new client.Counter({
    name: 'chaperone_moderation_matches_total',
    help: 'Moderation rule matches by rule, action, shadow flag and direction (shadow matches are counted, never acted on).',
    labelNames: ['rule', 'action', 'shadow', 'direction'],
    registers: [this.registry],
  })
  readonly #moderationErrors = new client.Counter({
    name: 'chaperone_moderation_dependency_errors_total',
    help: 'Moderation dependency failures (classifier timeout or error, a condition that did not evaluate) by rule, the onError policy applied, and reason.',
    labelNames: ['rule', 'policy', 'reason'],
    registers: [this.registry],
  })
  readonly #holdback = new client.Histogram({
    name: 'chaperone_moderation_holdback_max_code_units',
    help: 'The most text one moderated channel held back at once (UTF-16 code units), observed when the channel ends.',
    buckets: [0, 4, 16, 32, 64, 128, 256, 1024, 4096],
    registers: [this.registry],
  })
  readonly #matchChildren = new Map<string, client.Counter.Internal>()
  readonly #falsePositives = new client.Counter({
    name: 'chaperone_moderation_false_positive_reports_total',
    help: 'Moderation decisions reported as wrong (POST /admin/moderation/false-positives), by rule; at most 500 rule labels, the rest count as other.',
    labelNames: ['rule'],
    registers: [this.registry],
  })
  readonly #falsePositiveRules = new Set<string>()

  /** Counts a report; answers the label it was counted under. */
  falsePositive(rule: string): string {
    const label = this.#falsePositiveRules.has(rule) || this.#falsePositiveRules.size < MAX_REPORTED_RULES ? rule : 'other'
    this.#falsePositiveRules.add(label)
    this.#falsePositives.labels(label).inc()
    return label
  }

  /** The port the moderation filter counts through. */
  readonly moderation: ModerationMetricsPort = {
    hit: (rule, action, shadow, direction) => {
      const key = `${rule}\0${action}\0${shadow}\0${direction}`
      let c = this.#matchChildren.get(key)
      if (!c) this.#matchChildren.set(key, (c = this.#moderationMatches.labels(rule, action, String(shadow), direction)))
      c.inc()
    },
    onError: (rule, policy, reason) => this.#moderationErrors.labels(rule, policy, reason).inc(),
    holdback: (n) => this.#holdback.observe(n),
    window: (rule, classifier, outcome) => {
      const key = `${rule}\0${classifier}\0${outcome}`
      let c = this.#windowChildren.get(key)
      if (!c) this.#windowChildren.set(key, (c = this.#classifierWindows.labels(rule, classifier, outcome)))
      c.inc()
    },
  }
  readonly #classifierWindows = new client.Counter({
    name: 'chaperone_moderation_classifier_windows_total',
    help: 'Classifier windows by rule, classifier and outcome: model (scored), cascade_blocked (a keyword, regex or PII rule had already blocked the text, so the model was skipped), unsupported_language (sent to the rule’s otherLanguages fallback). model / all is the share that reaches the model.',
    labelNames: ['rule', 'classifier', 'outcome'],
    registers: [this.registry],
  })
  readonly #windowChildren = new Map<string, client.Counter.Internal>()

  readonly #authzDecisions = new client.Counter({
    name: 'chaperone_authz_decisions_total',
    help: 'Access decisions by deciding rule ("(default)" for default deny), decision and mode (audit: what the audit rules would decide).',
    labelNames: ['rule', 'decision', 'mode'],
    registers: [this.registry],
  })
  readonly #tokensRejected = new client.Counter({ name: 'chaperone_authz_tokens_rejected_total', help: 'Bearer tokens refused, by reason (jose error code, revoked, malformed, too_large…).', labelNames: ['reason'], registers: [this.registry] })
  readonly #authzDependency = new client.Counter({
    name: 'chaperone_authz_dependency_errors_total',
    help: 'Authz dependency failures (a stale revocation list, an access condition that did not evaluate) by dependency and the policy applied.',
    labelNames: ['dependency', 'policy'],
    registers: [this.registry],
  })
  readonly #jwksFetches = new client.Counter({ name: 'chaperone_jwks_fetches_total', help: 'Remote JWKS fetches by URI and outcome (ok, not_modified, error).', labelNames: ['uri', 'outcome'], registers: [this.registry] })
  readonly #decisionChildren = new Map<string, client.Counter.Internal>()

  /** The port the authz filter counts through. */
  readonly authz: AuthzMetricsPort = {
    decision: (rule, allow, mode) => {
      const key = `${rule}\0${allow}\0${mode}`
      let c = this.#decisionChildren.get(key)
      if (!c) this.#decisionChildren.set(key, (c = this.#authzDecisions.labels(rule, allow ? 'allow' : 'deny', mode)))
      c.inc()
    },
    tokenRejected: (reason) => this.#tokensRejected.labels(reason).inc(),
    dependencyError: (dependency, policy) => this.#authzDependency.labels(dependency, policy).inc(),
  }

  readonly #rateDecisions = new client.Counter({
    name: 'chaperone_ratelimit_decisions_total',
    help: 'Rate-limit checks by limit, decision, shadow flag and where they were decided (shared: Redis; local: the per-replica fallback; allow/deny: the onRedisError policy).',
    labelNames: ['limit', 'decision', 'shadow', 'mode'],
    registers: [this.registry],
  })
  readonly #rateChildren = new Map<string, client.Counter.Internal>()

  /** The port the rate-limit filter counts through. */
  readonly rateLimits: RateLimitMetricsPort = {
    decision: (limit, allowed, shadow, mode) => {
      const key = `${limit}\0${allowed}\0${shadow}\0${mode}`
      let c = this.#rateChildren.get(key)
      if (!c) this.#rateChildren.set(key, (c = this.#rateDecisions.labels(limit, allowed ? 'allow' : 'deny', String(shadow), mode)))
      c.inc()
    },
  }

  /** Seconds the limiter has spent in each mode, read at scrape time. */
  rateLimitModes(read: () => Readonly<Record<string, number>>): void {
    new client.Counter({
      name: 'chaperone_ratelimit_mode_seconds_total',
      help: 'Time the rate limiter spent deciding in each mode: shared (Redis), local (per-replica fallback), allow or deny (onRedisError without checking).',
      labelNames: ['mode'],
      registers: [this.registry],
      collect(this: client.Counter<'mode'>) {
        this.reset()
        for (const [mode, s] of Object.entries(read())) this.labels(mode).inc(s)
      },
    })
  }

  /**
   * The cache's counters (io/cache/stats.ts), read at scrape time: the data path only increments
   * plain numbers. Hit ratio = (hit + stale + coalesced) / (those + miss), per route.
   */
  cache(stats: CacheStats, memory: () => { entries: number; bytes: number; maxBytes: number }, sharedUp: () => number | undefined): void {
    const counter = <L extends string>(name: string, help: string, labelNames: L[], fill: (c: client.Counter<L>) => void) =>
      new client.Counter<L>({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect(this: client.Counter<L>) {
          this.reset()
          fill(this)
        },
      })
    const routes = () => stats.routes.entries()
    counter('chaperone_cache_lookups_total', 'Requests on cache routes by result: hit, stale (served while refreshing), coalesced (joined an identical request in flight), miss, bypass (not cacheable).', ['route', 'result'], (c) => {
      for (const [route, r] of routes()) for (const [result, n] of Object.entries(r.lookups)) c.labels(route, result).inc(n)
    })
    counter('chaperone_cache_bypass_total', 'Requests on cache routes that the cache did not handle, by reason.', ['route', 'reason'], (c) => {
      for (const [route, r] of routes()) for (const [reason, n] of Object.entries(r.bypass)) c.labels(route, reason).inc(n)
    })
    counter('chaperone_cache_upstream_requests_saved_total', 'Answers served without an upstream request (hits, stale hits and coalesced requests).', ['route'], (c) => {
      for (const [route, r] of routes()) c.labels(route).inc(r.upstreamRequestsSaved)
    })
    counter('chaperone_cache_tokens_saved_total', 'LLM tokens the saved answers cost when the upstream produced them (its reported usage), by kind.', ['route', 'kind'], (c) => {
      for (const [route, r] of routes()) {
        c.labels(route, 'input').inc(r.tokensSaved.input)
        c.labels(route, 'output').inc(r.tokensSaved.output)
      }
    })
    counter('chaperone_cache_stores_total', 'Entries stored.', ['route'], (c) => {
      for (const [route, r] of routes()) c.labels(route).inc(r.stored)
    })
    counter('chaperone_cache_not_stored_total', 'Upstream answers not stored, by reason (status, cache_control, set_cookie, too_large, incomplete, aborted, error_event).', ['route', 'reason'], (c) => {
      for (const [route, r] of routes()) for (const [reason, n] of Object.entries(r.notStored)) c.labels(route, reason).inc(n ?? 0)
    })
    counter('chaperone_cache_shared_errors_total', 'Redis cache tier failures by operation and kind; onError is always bypass: the request goes on with the memory tier only.', ['op', 'kind'], (c) => {
      for (const [k, n] of Object.entries(stats.store.sharedErrors)) {
        const [op, kind] = k.split(':')
        c.labels(op!, kind!).inc(n)
      }
    })
    counter('chaperone_cache_corrupt_entries_total', 'Shared entries that failed their checksum or did not decode: deleted and served as misses.', [], (c) => c.inc(stats.store.corrupt))
    counter('chaperone_cache_evictions_total', 'Entries evicted from the memory tier to stay within its byte bound.', [], (c) => c.inc(stats.store.evictions))
    this.#scrapeGauge('chaperone_cache_memory_bytes', 'Bytes held by the memory tier.', () => memory().bytes)
    this.#scrapeGauge('chaperone_cache_memory_entries', 'Entries held by the memory tier.', () => memory().entries)
    this.#scrapeGauge('chaperone_cache_shared_tier_up', '1 while the Redis cache tier answers, 0 while it is bypassed, -1 without one.', () => sharedUp() ?? -1)
    new client.Gauge({
      name: 'chaperone_cache_hit_ratio',
      help: 'Since start, per route: (hit + stale + coalesced) / (those + miss). Prefer rates of chaperone_cache_lookups_total for a window.',
      labelNames: ['route'],
      registers: [this.registry],
      collect(this: client.Gauge<'route'>) {
        this.reset()
        for (const [route, r] of routes()) this.labels(route).set(hitRatio(r))
      },
    })
  }

  readonly #decisions = new client.Counter({
    name: 'chaperone_decisions_total',
    help: 'Decisions that matter, by filter (authz, ratelimit, moderation, cache), rule, action (deny, refuse, block, redact, flag, hit, stale), region ("" when unknown) and shadow (evaluated and counted, never acted on).',
    labelNames: ['filter', 'rule', 'action', 'region', 'shadow'],
    registers: [this.registry],
  })
  readonly #decisionKeys = new Map<string, client.Counter.Internal>()

  /** One decision of a completed request (core/audit/request-decisions.ts). */
  decision(filter: string, rule: string, action: string, region: string | undefined, shadow: boolean): void {
    const key = `${filter}\0${rule}\0${action}\0${region ?? ''}\0${shadow}`
    let c = this.#decisionKeys.get(key)
    if (!c) {
      // Regions come from verified claims or a trusted header; past a bound they count as other.
      const r = region === undefined ? '' : this.#regions.has(region) || this.#regions.size < MAX_REGIONS ? region : 'other'
      this.#regions.add(r)
      this.#decisionKeys.set(key, (c = this.#decisions.labels(filter, rule, action, r, String(shadow))))
    }
    c.inc()
  }
  readonly #regions = new Set<string>()

  jwksFetch(uri: string, outcome: string): void {
    this.#jwksFetches.labels(uri, outcome).inc()
  }

  readonly #requestChildren = new Map<string, Map<number, client.Counter.Internal>>()
  readonly #durationChildren = new Map<string, client.Histogram.Internal<'route'>>()

  constructor() {
    // process_* and nodejs_* (CPU, memory, event-loop lag and utilisation, GC): what tells an
    // operator the sidecar itself is the bottleneck. All are read at scrape time; the loop is
    // sampled every 100 ms rather than 10 ms so the monitor stays off the request path.
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 })
    this.#eventLoopDelay()
    this.#scrapeGauge('chaperone_active_streams', 'Event-stream responses in flight.', () => this.#live.streams)
    this.#scrapeGauge('chaperone_inflight_requests', 'Requests and WebSocket tunnels in flight.', () => this.#live.inflight)
    this.#scrapeGauge('chaperone_websocket_tunnels', 'WebSocket tunnels open.', () => this.#live.tunnels)
    for (const outcome of ['success', 'unchanged', 'error']) this.#reloads.labels(outcome).inc(0)
  }

  /**
   * Event-loop delay between scrapes, from perf_hooks.monitorEventLoopDelay at 10 ms resolution.
   * Node records the whole interval between timer ticks, resolution included (nodejs_eventloop_lag_*
   * read 0.1 s when idle for that reason); here the resolution is taken off, so 0 means no delay.
   */
  #eventLoopDelay(): void {
    const resolutionMs = 10
    const h = monitorEventLoopDelay({ resolution: resolutionMs })
    h.enable()
    const off = resolutionMs * 1e6
    new client.Gauge({
      name: 'chaperone_event_loop_delay_seconds',
      help: 'How late the event loop ran timers since the previous scrape (perf_hooks.monitorEventLoopDelay, 10 ms resolution taken off), by quantile: 0.5, 0.99 and 1 (max). Everything Chaperone does per event waits this long on top.',
      labelNames: ['quantile'],
      registers: [this.registry],
      collect(this: client.Gauge<'quantile'>) {
        const at = (ns: number) => Math.max(0, ns - off) / 1e9
        if (h.count > 0) {
          this.labels('0.5').set(at(h.percentile(50)))
          this.labels('0.99').set(at(h.percentile(99)))
          this.labels('1').set(at(h.max))
        }
        h.reset()
      },
    })
  }

  request(route: string, status: number, seconds: number): void {
    let byStatus = this.#requestChildren.get(route)
    if (!byStatus) this.#requestChildren.set(route, (byStatus = new Map()))
    let c = byStatus.get(status)
    if (!c) byStatus.set(status, (c = this.#requests.labels(route, String(status))))
    c.inc()
    let h = this.#durationChildren.get(route)
    if (!h) this.#durationChildren.set(route, (h = this.#duration.labels(route)))
    h.observe(seconds)
  }

  firstByte(route: string, seconds: number): void {
    let h = this.#firstByteChildren.get(route)
    if (!h) this.#firstByteChildren.set(route, (h = this.#firstByte.labels(route)))
    h.observe(seconds)
  }

  eventLatency(seconds: number): void {
    this.#eventLatency.observe(seconds)
  }

  upstreamError(code: string): void {
    this.#upstreamErrors.labels(code).inc()
  }

  refusal(code: string): void {
    this.#refusals.labels(code).inc()
  }

  clientError(code: string): void {
    this.#clientErrors.labels(code).inc()
  }

  streamStarted(): void {
    this.#live.streams++
  }

  streamEnded(): void {
    this.#live.streams--
  }

  inflight(delta: 1 | -1): void {
    this.#live.inflight += delta
  }

  tunnel(delta: 1 | -1): void {
    this.#live.tunnels += delta
    if (delta === 1) this.#tunnelsOpened.inc()
  }

  reload(outcome: 'success' | 'unchanged' | 'error'): void {
    this.#reloads.labels(outcome).inc()
    this.#lastReloadOk.set(outcome === 'error' ? 0 : 1)
  }

  policy(version: number, digest: string): void {
    this.#policyInfo.reset()
    this.#policyInfo.labels(String(version), digest).set(1)
  }

  #scrapeGauge(name: string, help: string, read: () => number): void {
    new client.Gauge({
      name,
      help,
      registers: [this.registry],
      collect(this: client.Gauge) {
        this.set(read())
      },
    })
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
