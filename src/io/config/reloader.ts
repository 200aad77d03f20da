/**
 * read → compile → swap, one reload at a time. A failed reload leaves the live snapshot alone,
 * so a bad edit never takes the proxy down: it is logged, recorded on the store for
 * /admin/config, counted, and retried on the next change.
 */
import type { FilterFactory, LogPort } from '../../core/chain/types.js'
import { compilePolicies } from '../../core/config/compile.js'
import { digestFiles } from '../../core/config/digest.js'
import { ROOT_PATH, formatConfigError, type ConfigError } from '../../core/config/errors.js'
import { PROCESS_CONFIG_FILE } from '../../core/config/process-schema.js'
import type { SnapshotStore } from '../../core/config/store.js'
import { ConfigReadError, contentFingerprint, fingerprintConfigDir, readConfigDir, readErrorFingerprint, type ConfigDirContents, type ReadLimits } from './read-dir.js'
import { warnSubPathMounts } from './subpath.js'
import { digestReferencedFiles, type PolicyFileReader } from './policy-files.js'

export type ReloadOutcome = 'success' | 'unchanged' | 'error'

export interface ReloadResult {
  readonly outcome: ReloadOutcome
  /** The live snapshot's version after this reload (absent while none has ever loaded). */
  readonly version?: number
  readonly errors?: readonly ConfigError[]
  /** Why it ran: 'startup', 'file change', 'content check', 'SIGHUP', 'admin API', ... */
  readonly reason: string
  readonly durationMs: number
}

export interface ConfigReloaderOptions {
  readonly dir: string
  readonly factories: readonly FilterFactory[]
  readonly ports: unknown
  readonly store: SnapshotStore
  readonly log: LogPort
  /** Called after every reload; the metrics layer counts outcomes here. Must not throw. */
  readonly onResult?: (result: ReloadResult) => void
  readonly now?: () => Date
  readonly readLimits?: ReadLimits
  /** Warn about subPath mounts on the first reload (main turns it on; off by default so unit tests stay off the host's mount table). */
  readonly detectSubPath?: boolean
  /** The reader the compile's ports use for files a policy names; their changes reload too. */
  readonly policyFiles?: PolicyFileReader
}

export class ConfigReloader {
  readonly #o: ConfigReloaderOptions
  #running: Promise<ReloadResult> | undefined
  #queued: Promise<ReloadResult> | undefined
  #fingerprint: string | undefined
  #processText: string | undefined
  #first = true
  /** Files the live policy read while compiling (jwksFile…), and their digest then. */
  #referenced: readonly string[] = []
  #referencedDigest = ''
  /** Reloads by outcome since start. */
  readonly counts: Record<ReloadOutcome, number> = { success: 0, unchanged: 0, error: 0 }

  constructor(options: ConfigReloaderOptions) {
    this.#o = options
  }

  /** Fingerprint of the directory and of the files the live policy names, as they are now. */
  async fingerprintNow(): Promise<string> {
    return withReferenced(await fingerprintConfigDir(this.#o.dir, this.#o.readLimits), digestReferencedFiles(this.#referenced))
  }

  /** Fingerprint of what the latest reload read, for ConfigWatcher's content check. */
  get lastFingerprint(): string | undefined {
    return this.#fingerprint
  }

  /**
   * Reloads now, or, if a reload is running, once right after it: any number of requests made
   * meanwhile share that one follow-up, which reads the files as they are by then.
   */
  reload(reason: string): Promise<ReloadResult> {
    if (!this.#running) return this.#start(reason)
    this.#queued ??= this.#running.then(() => {
      this.#queued = undefined
      return this.#start(reason)
    })
    return this.#queued
  }

  #start(reason: string): Promise<ReloadResult> {
    const p = this.#run(reason).finally(() => {
      if (this.#running === p) this.#running = undefined
    })
    this.#running = p
    return p
  }

  async #run(reason: string): Promise<ReloadResult> {
    const started = Date.now()
    const at = this.#o.now?.() ?? new Date()
    const { store, log } = this.#o
    store.recordAttempt(at)
    let outcome: Omit<ReloadResult, 'reason' | 'durationMs'>
    try {
      outcome = await this.#attempt(at)
    } catch (e) {
      // A bug, not a bad file: still keep the last good policy and report it like one.
      outcome = { outcome: 'error', errors: [{ file: this.#o.dir, path: ROOT_PATH, message: `reload failed: ${(e as Error).message}` }] }
    }
    const current = store.current()
    const result: ReloadResult = {
      ...outcome,
      ...(current ? { version: current.version } : {}),
      reason,
      durationMs: Date.now() - started,
    }
    this.counts[result.outcome]++
    if (result.outcome === 'error') {
      store.recordFailure(result.errors ?? [], at)
      for (const e of result.errors ?? []) log.error({ file: e.file, path: e.path, line: e.line, reason }, formatConfigError(e))
      log.warn({ reason, version: current?.version ?? null }, current ? 'policy reload failed; keeping the last good policy' : 'policy load failed; no policy is active')
    } else if (result.outcome === 'success') {
      log.info({ reason, version: current?.version, digest: current?.digest, files: current?.files.map((f) => f.name), policies: current?.policies }, 'policy loaded')
      for (const w of current?.warnings ?? []) log.warn({ file: w.file, path: w.path }, `policy warning: ${formatConfigError(w)}`)
    } else {
      log.debug({ reason, version: current?.version }, 'policy unchanged')
    }
    try {
      this.#o.onResult?.(result)
    } catch (e) {
      log.warn({ err: e }, 'reload result callback failed')
    }
    return result
  }

  async #attempt(at: Date): Promise<Omit<ReloadResult, 'reason' | 'durationMs'>> {
    const { store } = this.#o
    let contents: ConfigDirContents
    try {
      contents = await readConfigDir(this.#o.dir, this.#o.readLimits)
    } catch (e) {
      this.#fingerprint = readErrorFingerprint(e)
      if (e instanceof ConfigReadError) return { outcome: 'error', errors: e.errors }
      throw e
    }
    const referencedDigest = digestReferencedFiles(this.#referenced)
    this.#fingerprint = withReferenced(contentFingerprint(contents), referencedDigest)
    await this.#inspect(contents)

    const current = store.current()
    if (current && current.digest === digestFiles(contents.policyFiles) && referencedDigest === this.#referencedDigest) {
      // Back to (or still at) the live policy: whatever failed before no longer applies.
      store.clearFailure()
      return { outcome: 'unchanged' }
    }
    this.#o.policyFiles?.begin()
    const compiled = compilePolicies(contents.policyFiles, this.#o.factories, this.#o.ports, {
      version: (current?.version ?? 0) + 1,
      loadedAt: at,
    })
    const errors = compiled.ok ? await compiled.ready() : compiled.errors
    if (errors.length > 0) {
      // Files the failed policy named are watched too, so that mounting the missing model reloads.
      if (this.#o.policyFiles) {
        this.#referenced = [...new Set([...this.#referenced, ...this.#o.policyFiles.recorded()])].sort()
        this.#fingerprint = withReferenced(contentFingerprint(contents), digestReferencedFiles(this.#referenced))
      }
      return { outcome: 'error', errors }
    }
    if (!compiled.ok) return { outcome: 'error', errors: compiled.errors }
    if (this.#o.policyFiles) {
      this.#referenced = this.#o.policyFiles.recorded()
      this.#referencedDigest = digestReferencedFiles(this.#referenced)
      this.#fingerprint = withReferenced(contentFingerprint(contents), this.#referencedDigest)
    }
    store.swap(compiled.snapshot)
    store.clearFailure()
    return { outcome: 'success' }
  }

  /** Warnings that do not block a load: subPath mounts, and chaperone.yaml edited after start. */
  async #inspect(contents: ConfigDirContents): Promise<void> {
    const processText = contents.processFile?.content
    if (this.#first) {
      this.#first = false
      this.#processText = processText
      if (this.#o.detectSubPath === true) {
        const names = [...(contents.processFile ? [contents.processFile.name] : []), ...contents.policyFiles.map((f) => f.name)]
        await warnSubPathMounts(this.#o.dir, names, this.#o.log).catch(() => [])
      }
    } else if (processText !== this.#processText) {
      this.#processText = processText
      this.#o.log.warn({ file: PROCESS_CONFIG_FILE }, `${PROCESS_CONFIG_FILE} changed: it is read only at start, restart to apply it`)
    }
  }
}

/** Without referenced files the fingerprint is the directory's own, as the watcher computes it alone. */
function withReferenced(dir: string, referenced: string): string {
  return referenced === '' ? dir : `${dir}|${referenced}`
}
