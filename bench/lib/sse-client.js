// @ts-check
// A streaming chat completion whose every content event is timestamped on arrival. It sits on
// undici's dispatch callbacks and recognises events with a cheap scan instead of JSON.parse: with
// 256 streams the client shares the cores with the processes under test, and any CPU it wastes
// would show up as their latency.
import { CHAT_PATH } from './http-load.js'

export const STREAM_BODY = JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'stream please' }], stream: true })
const hr = process.hrtime.bigint
// A non-empty content string, however the proxy spaces its JSON.
const CONTENT = /"content"\s*:\s*"(?!")/
const DONE = /^data: ?\[DONE\]$/m

/**
 * @typedef {{ ok: boolean, status: number, contentEvents: number, done: boolean, timesMs: Float64Array,
 *   ttftMs: number, maxGapMs: number, error?: string }} StreamTiming
 */

/**
 * @param {import('undici').Dispatcher} dispatcher
 * @param {{ deltas: number, paceMs: number, timeoutMs: number }} o
 * @returns {Promise<StreamTiming>}
 */
export function timedStream(dispatcher, o) {
  const t0 = hr()
  const times = new Float64Array(o.deltas)
  let events = 0
  let done = false
  let status = 0
  /** @type {string | undefined} */
  let error
  // Latin-1 maps bytes one to one, so a UTF-8 sequence split across chunks cannot corrupt the
  // ASCII that is scanned for.
  let buf = ''

  /** @param {number} at */
  const scan = (at) => {
    let text = buf
    let tail = ''
    if (text.includes('\r')) {
      // A trailing CR may be half of a CRLF; it is normalised once its LF has arrived.
      if (text.endsWith('\r')) {
        tail = '\r'
        text = text.slice(0, -1)
      }
      text = text.replace(/\r\n?/g, '\n')
    }
    let start = 0
    let end
    while ((end = text.indexOf('\n\n', start)) !== -1) {
      const event = text.slice(start, end)
      start = end + 2
      if (CONTENT.test(event)) {
        if (events < times.length) times[events++] = at
      } else if (DONE.test(event)) done = true
    }
    buf = text.slice(start) + tail
  }

  return new Promise((resolve) => {
    /** @type {NodeJS.Timeout | undefined} */
    let timer
    const finish = () => {
      clearTimeout(timer)
      const timesMs = times.subarray(0, events)
      let maxGapMs = 0
      for (let i = 1; i < events; i++) maxGapMs = Math.max(maxGapMs, timesMs[i] - timesMs[i - 1])
      const ok = error === undefined && done && events === o.deltas
      if (!ok && error === undefined) error = `incomplete: ${events}/${o.deltas} content events, [DONE] ${done ? 'seen' : 'missing'}`
      resolve({ ok, status, contentEvents: events, done, timesMs, ttftMs: events > 0 ? timesMs[0] : NaN, maxGapMs, ...(error ? { error } : {}) })
    }
    dispatcher.dispatch(
      {
        path: CHAT_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-demo-deltas': String(o.deltas), 'x-demo-pace-ms': String(o.paceMs) },
        body: STREAM_BODY,
      },
      {
        onRequestStart(controller) {
          timer = setTimeout(() => controller.abort(new Error(`stream timed out after ${o.timeoutMs} ms`)), o.timeoutMs)
        },
        onResponseStart(_controller, statusCode) {
          status = statusCode
          if (statusCode !== 200) error = `HTTP ${statusCode}`
        },
        onResponseData(_controller, chunk) {
          if (error !== undefined) return
          buf += chunk.toString('latin1')
          scan(Number(hr() - t0) / 1e6)
        },
        onResponseEnd: finish,
        onResponseError(_controller, err) {
          error ??= err.message
          finish()
        },
      },
    )
  })
}
