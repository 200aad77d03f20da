import { request } from 'undici'
import { createLocalJWKSet, importJWK, type FlattenedJWSInput, type JWK, type JWSHeaderParameters, type JWTVerifyGetKey, type LocalJWKSet } from 'jose'
import { JOSEError, JWKSInvalid, JWKSNoMatchingKey, JWKSTimeout } from 'jose/errors'

export interface RemoteKeySetOptions {
  cooldownMs: number
  maxAgeMs: number
  timeoutMs: number
  /** Default 512 KiB. */
  maxBytes?: number
}

export type FetchOutcome = 'ok' | 'error' | 'not_modified'

export interface RemoteKeySetDeps {
  now?: () => number
  log: { warn(o: object, m?: string): void; info(o: object, m?: string): void }
  onFetch?: (outcome: FetchOutcome) => void
}

export interface RemoteKeySetStatus {
  uri: string
  keys: number
  fetchedAt: number | null
  lastError: string | null
}

/** A JWKS endpoint that could not be read: refused connection, non-200 status, oversized body. */
export class JwksFetchFailed extends JOSEError {
  static override code = 'ERR_JWKS_FETCH_FAILED'
  override code = 'ERR_JWKS_FETCH_FAILED'
}

const DEFAULT_MAX_BYTES = 512 * 1024
// Real kids are thumbprints or short names; a huge one is an attack on our lookups, not a key.
const MAX_KID_LENGTH = 256
// Refreshing before expiry keeps the blocking refresh at maxAge for when the early one failed.
const EARLY_REFRESH = 0.8
const MIN_RSA_BITS = 2048
const ACCEPT = 'application/jwk-set+json, application/json'

// importJWK needs an alg to pick the WebCrypto algorithm; these are the ones a kty/crv implies.
const IMPLIED_ALG = new Map([
  ['RSA', 'RS256'],
  ['EC:P-256', 'ES256'],
  ['EC:P-384', 'ES384'],
  ['EC:P-521', 'ES512'],
  ['OKP:Ed25519', 'Ed25519'],
])

interface Download {
  status: number
  body: Buffer
  etag: string | null
}

interface KeySet {
  local: LocalJWKSet
  count: number
}

/**
 * A JWKS fetched from one configured URI, with stale-if-error: jose's createRemoteJWKSet drops
 * its keys when a refresh fails after expiry, so an identity-provider outage would reject every
 * token. Key selection (kid/alg/kty/use) stays jose's, through createLocalJWKSet.
 */
export class RemoteKeySet {
  readonly uri: string
  readonly getKey: JWTVerifyGetKey
  #options: RemoteKeySetOptions
  readonly #now: () => number
  readonly #log: RemoteKeySetDeps['log']
  readonly #onFetch: (outcome: FetchOutcome) => void
  #keys: KeySet | null = null
  #keysVersion = 0
  #etag: string | null = null
  #fetchedAt: number | null = null
  #attemptedAt: number | null = null
  #failure: JOSEError | null = null
  #inflight: Promise<boolean> | null = null

  constructor(uri: string, options: RemoteKeySetOptions, deps: RemoteKeySetDeps) {
    const url = new URL(uri)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`JWKS URI must be http(s): ${uri}`)
    this.uri = url.href
    this.#options = options
    this.#now = deps.now ?? Date.now
    this.#log = deps.log
    this.#onFetch = deps.onFetch ?? (() => {})
    this.getKey = (header, token) => this.#lookup(header, token)
  }

  async prefetch(): Promise<void> {
    await this.#refresh()
  }

  /**
   * The version of the keys held now; it changes whenever a fetch replaces them. Verified-token
   * caches compare it, so a key the endpoint stops serving stops vouching for tokens verified
   * before. A cache hit looks up no key, so this is also where a refresh that is due starts.
   */
  keysVersion(): number {
    const now = this.#now()
    if (this.#keys !== null && now - this.#fetchedAt! >= this.#options.maxAgeMs * EARLY_REFRESH && this.#inflight === null && !this.#coolingDown(now)) void this.#refresh()
    return this.#keysVersion
  }

  setOptions(o: RemoteKeySetOptions): void {
    this.#options = o
  }

  status(): RemoteKeySetStatus {
    return { uri: this.uri, keys: this.#keys?.count ?? 0, fetchedAt: this.#fetchedAt, lastError: this.#failure?.message ?? null }
  }

  async #lookup(header: JWSHeaderParameters, token: FlattenedJWSInput) {
    // jose lets the unprotected header's kid win, so both are bounded.
    if (tooLong(header?.kid) || tooLong(token?.header?.kid)) throw new JWKSNoMatchingKey()
    const keys = await this.#currentKeys()
    try {
      return await keys.local(header, token)
    } catch (err) {
      if (!(err instanceof JWKSNoMatchingKey) || !(await this.#refetchFor(keys))) throw err
      return this.#keys!.local(header, token)
    }
  }

  /** The keys to look up in, fetching or refreshing them first when they are missing or old. */
  async #currentKeys(): Promise<KeySet> {
    const now = this.#now()
    if (this.#keys === null) {
      if (this.#inflight !== null || !this.#coolingDown(now)) await this.#refresh()
      if (this.#keys === null) throw this.#failure ?? new JwksFetchFailed('JWKS not fetched')
      return this.#keys
    }
    const age = now - this.#fetchedAt!
    const { maxAgeMs } = this.#options
    // Past maxAge we wait for the refresh, but a failed one leaves the old keys in place; inside
    // the cooldown after a failure we do not even wait, so an outage costs one timeout per cooldown.
    if (age >= maxAgeMs && (this.#inflight !== null || !this.#coolingDown(now))) await this.#refresh()
    else if (age >= maxAgeMs * EARLY_REFRESH && this.#inflight === null && !this.#coolingDown(now)) void this.#refresh()
    return this.#keys
  }

  /** After an unknown kid: whether the set changed since `seen`, refetching if the cooldown allows. */
  async #refetchFor(seen: KeySet): Promise<boolean> {
    if (this.#keys !== seen) return true
    if (this.#inflight === null && this.#coolingDown(this.#now())) return false
    await this.#refresh()
    return this.#keys !== seen
  }

  #coolingDown(now: number): boolean {
    return this.#attemptedAt !== null && now - this.#attemptedAt < this.#options.cooldownMs
  }

  /** Single-flight fetch; resolves to whether it succeeded and never rejects. */
  #refresh(): Promise<boolean> {
    this.#inflight ??= this.#attempt().finally(() => {
      this.#inflight = null
    })
    return this.#inflight
  }

  async #attempt(): Promise<boolean> {
    let outcome: FetchOutcome
    try {
      outcome = await this.#fetchKeys()
    } catch (err) {
      this.#attemptedAt = this.#now()
      const failure = err instanceof JOSEError ? err : new JwksFetchFailed('JWKS fetch failed', { cause: err })
      if (this.#failure === null) {
        const fallback = this.#keys === null ? 'no keys yet' : 'serving the cached keys'
        this.#log.warn({ jwksUri: this.uri, err: describe(failure) }, `JWKS fetch failed; ${fallback} until it recovers`)
      }
      this.#failure = failure
      this.#onFetch('error')
      return false
    }
    const now = this.#now()
    this.#attemptedAt = now
    this.#fetchedAt = now
    if (this.#failure !== null) this.#log.info({ jwksUri: this.uri }, 'JWKS fetch recovered')
    this.#failure = null
    this.#onFetch(outcome)
    return true
  }

  async #fetchKeys(): Promise<'ok' | 'not_modified'> {
    const sentEtag = this.#keys !== null ? this.#etag : null
    const got = await this.#download(sentEtag)
    if (got.status === 304 && sentEtag !== null) return 'not_modified'
    if (got.status !== 200) throw new JwksFetchFailed(`JWKS endpoint answered ${got.status}, expected 200`)
    this.#keys = await this.#parse(got.body)
    this.#keysVersion++
    this.#etag = got.etag
    return 'ok'
  }

  /** One GET, bounded in time (headers and body together) and in size; redirects are not followed. */
  async #download(etag: string | null): Promise<Download> {
    const { timeoutMs, maxBytes = DEFAULT_MAX_BYTES } = this.#options
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), timeoutMs)
    try {
      const headers: Record<string, string> = { accept: ACCEPT }
      if (etag !== null) headers['if-none-match'] = etag
      const res = await request(this.uri, { method: 'GET', headers, signal: abort.signal })
      if (res.statusCode !== 200) {
        await res.body.dump({ limit: 16 * 1024, signal: abort.signal })
        return { status: res.statusCode, body: Buffer.alloc(0), etag: null }
      }
      const declared = Number(res.headers['content-length'])
      if (declared > maxBytes) {
        res.body.destroy()
        throw new JwksFetchFailed(`JWKS body of ${declared} bytes exceeds ${maxBytes}`)
      }
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > maxBytes) throw new JwksFetchFailed(`JWKS body exceeds ${maxBytes} bytes`)
        chunks.push(chunk)
      }
      const etagHeader = res.headers.etag
      return { status: 200, body: Buffer.concat(chunks), etag: typeof etagHeader === 'string' ? etagHeader : null }
    } catch (err) {
      if (abort.signal.aborted) throw new JWKSTimeout(`JWKS fetch exceeded ${timeoutMs} ms`, { cause: err })
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  async #parse(body: Buffer): Promise<KeySet> {
    let json: unknown
    try {
      json = JSON.parse(body.toString('utf8'))
    } catch (cause) {
      throw new JWKSInvalid('JWKS response is not JSON', { cause })
    }
    const keys = (json as { keys?: unknown } | null)?.keys
    if (!Array.isArray(keys)) throw new JWKSInvalid('JWKS response has no "keys" array')
    const usable: JWK[] = []
    let skipped = 0
    for (const jwk of keys) {
      // Encryption keys share some JWKS documents; they are not ours to verify with, nor an error.
      if (isPlainObject(jwk) && jwk.use !== undefined && jwk.use !== 'sig') continue
      if (await verifiesSignatures(jwk)) usable.push(jwk as JWK)
      else skipped++
    }
    if (skipped > 0) this.#log.warn({ jwksUri: this.uri, skipped, kept: usable.length }, 'JWKS keys skipped: not importable as public signature keys')
    if (usable.length === 0) throw new JWKSInvalid('JWKS has no usable keys')
    return { local: createLocalJWKSet({ keys: usable }), count: usable.length }
  }
}

function tooLong(kid: unknown): boolean {
  return typeof kid === 'string' && kid.length > MAX_KID_LENGTH
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Whether jose can import the JWK as a public key for a signature algorithm. */
async function verifiesSignatures(jwk: unknown): Promise<boolean> {
  if (!isPlainObject(jwk) || typeof jwk.kty !== 'string') return false
  const alg = typeof jwk.alg === 'string' ? jwk.alg : (IMPLIED_ALG.get(`${jwk.kty}:${String(jwk.crv)}`) ?? IMPLIED_ALG.get(jwk.kty))
  if (alg === undefined) return false
  try {
    const key = await importJWK(jwk as JWK, alg)
    if (key instanceof Uint8Array || key.type !== 'public') return false
    // jose refuses to verify with short RSA keys, and with a TypeError rather than a JOSE error.
    return jwk.kty !== 'RSA' || ((key.algorithm as { modulusLength?: number }).modulusLength ?? 0) >= MIN_RSA_BITS
  } catch {
    return false
  }
}

function describe(err: JOSEError): string {
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
  return `${err.code} ${err.message}${cause}`
}
