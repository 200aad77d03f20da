/**
 * Tells the reloader when the config directory may have changed.
 *
 * kubelet never edits a ConfigMap file in place: it writes a new hidden timestamped directory
 * and renames a `..data_tmp` symlink over `..data`. So the directory itself is watched and
 * every event in it counts as "something changed", events on `..data` included.
 * Bursts are debounced into one reload. A periodic content check catches what inotify misses
 * (watch limits, overlay filesystems, events lost while the process was busy).
 */
import { watch, type FSWatcher } from 'chokidar'
import { realpath } from 'node:fs/promises'
import type { LogPort } from '../../core/chain/types.js'
import { fingerprintConfigDir, type ReadLimits } from './read-dir.js'

export interface ConfigWatcherOptions {
  readonly dir: string
  /** Quiet time after the last event before onChange fires. */
  readonly debounceMs: number
  /** Upper bound on the delay under a continuous stream of events; default max(4 × debounce, 1 s). */
  readonly maxWaitMs?: number
  /** Period of the content check; 0 disables it. */
  readonly hashCheckIntervalMs: number
  /** Asks for a reload; a returned promise is awaited before the next content check. */
  readonly onChange: (reason: string) => unknown
  /**
   * Fingerprint of what the last reload read (pass `() => reloader.lastFingerprint`). Without
   * it the watcher remembers the fingerprint it saw when it last asked for a reload, which can
   * cost one extra, harmless 'unchanged' reload after a failed or overtaken one.
   */
  readonly lastFingerprint?: () => string | undefined
  /** Fingerprint of what a reload would read now (pass `() => reloader.fingerprintNow()`); the directory alone by default. */
  readonly fingerprint?: () => Promise<string>
  readonly log?: LogPort
  /** false runs on the content check alone, for filesystems without inotify and for tests. */
  readonly fsEvents?: boolean
  readonly readLimits?: ReadLimits
}

export class ConfigWatcher {
  readonly #o: ConfigWatcherOptions
  #fs: FSWatcher | undefined
  #interval: NodeJS.Timeout | undefined
  #timer: NodeJS.Timeout | undefined
  #firstEventAt = 0
  #ready = false
  #checking = false
  #closed = false
  #inflight = 0
  /** Only used without options.lastFingerprint. */
  #seen: string | undefined
  /** For diagnostics and tests: filesystem events by chokidar name, content checks run, reloads asked. */
  readonly stats = { events: new Map<string, number>(), checks: 0, triggered: 0 }

  constructor(options: ConfigWatcherOptions) {
    this.#o = options
  }

  /** Resolves once the initial scan is done: changes after that are seen. */
  async start(): Promise<void> {
    if (!this.#o.lastFingerprint) this.#seen = await this.#fingerprintNow()
    if (this.#o.hashCheckIntervalMs > 0) {
      this.#interval = setInterval(() => void this.#check(), this.#o.hashCheckIntervalMs)
      this.#interval.unref()
    }
    if (this.#o.fsEvents === false) return
    // depth 0: kubelet's timestamped directories need no watch of their own, the swap of
    // `..data` and the visible symlinks already report the change. Symlinks are not followed
    // so that `..data` itself is watched and reported; for the same reason a configured dir
    // that is itself a symlink must be resolved first, or only the link would be watched.
    const root = await realpath(this.#o.dir).catch(() => this.#o.dir)
    const w = watch(root, { ignoreInitial: true, followSymlinks: false, depth: 0 })
    this.#fs = w
    w.on('all', (event, path) => this.#onEvent(event, path))
    w.on('error', (e) => this.#o.log?.warn({ err: e, dir: this.#o.dir }, 'config watcher error; the periodic content check still runs'))
    await new Promise<void>((resolve) => w.once('ready', () => resolve()))
    this.#ready = true
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#interval) clearInterval(this.#interval)
    if (this.#timer) clearTimeout(this.#timer)
    this.#interval = this.#timer = undefined
    await this.#fs?.close()
    this.#fs = undefined
  }

  #onEvent(event: string, path: string): void {
    // chokidar reports symlinks found by the initial scan despite ignoreInitial: not changes.
    if (!this.#ready || this.#closed) return
    this.stats.events.set(event, (this.stats.events.get(event) ?? 0) + 1)
    this.#o.log?.debug({ event, path }, 'config directory event')
    const now = Date.now()
    if (this.#timer === undefined) this.#firstEventAt = now
    else clearTimeout(this.#timer)
    const maxWait = this.#o.maxWaitMs ?? Math.max(4 * this.#o.debounceMs, 1000)
    const delay = Math.max(0, Math.min(this.#o.debounceMs, this.#firstEventAt + maxWait - now))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#fire('file change')
    }, delay)
  }

  /** No reload is scheduled or running on this watcher's behalf. */
  get idle(): boolean {
    return this.#timer === undefined && this.#inflight === 0
  }

  #fire(reason: string, fingerprint?: string): Promise<void> {
    this.stats.triggered++
    this.#inflight++
    return Promise.resolve()
      .then(async () => {
        if (!this.#o.lastFingerprint) this.#seen = fingerprint ?? (await this.#fingerprintNow())
        return this.#o.onChange(reason)
      })
      .then(
        () => undefined,
        (e: unknown) => this.#o.log?.error({ err: e }, 'config reload failed unexpectedly'),
      )
      .finally(() => this.#inflight--)
  }

  #fingerprintNow(): Promise<string> {
    return this.#o.fingerprint ? this.#o.fingerprint() : fingerprintConfigDir(this.#o.dir, this.#o.readLimits)
  }

  async #check(): Promise<void> {
    // A debounced reload is already on its way, or the previous check is still running.
    if (this.#checking || this.#timer !== undefined || this.#closed) return
    this.#checking = true
    try {
      const now = await this.#fingerprintNow()
      const known = this.#o.lastFingerprint ? this.#o.lastFingerprint() : this.#seen
      if (!this.#closed && now !== known) await this.#fire('content check', now)
    } finally {
      this.#checking = false
      this.stats.checks++
    }
  }
}
