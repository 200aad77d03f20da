// @ts-check
// A streamed chat completion whose text is timed on arrival by position: for every delta the
// demo chatbot sends, when the client has received the text up to that delta's end. A moderated
// stream may carry held text in a later event (or merge events), so events are not counted:
// characters are. Redaction would change lengths, so the bench text contains nothing to redact.
import { Pool } from 'undici'
import { CHAT_PATH } from './http-load.js'
import { STREAM_BODY } from './sse-client.js'

const hr = process.hrtime.bigint

/**
 * @param {import('undici').Dispatcher} dispatcher
 * @param {{ deltas: number, paceMs: number, timeoutMs: number }} o
 * @returns {Promise<{ ok: boolean, error?: string, ttftMs: number, arrivals: { chars: number, ms: number }[], text: string }>}
 */
export function positionTimedStream(dispatcher, o) {
  const t0 = hr()
  /** @type {{ chars: number, ms: number }[]} */
  const arrivals = []
  let text = ''
  let buf = ''
  let done = false
  /** @type {string | undefined} */
  let error
  const decoder = new TextDecoder()
  const scan = (/** @type {number} */ ms) => {
    let end
    while ((end = buf.indexOf('\n\n')) !== -1) {
      const event = buf.slice(0, end)
      buf = buf.slice(end + 2)
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue
        const data = line.slice(6)
        if (data === '[DONE]') {
          done = true
          continue
        }
        const c = JSON.parse(data)?.choices?.[0]?.delta?.content
        if (typeof c === 'string' && c !== '') {
          text += c
          arrivals.push({ chars: text.length, ms })
        }
      }
    }
  }
  return new Promise((resolve) => {
    /** @type {NodeJS.Timeout | undefined} */
    let timer
    const finish = () => {
      clearTimeout(timer)
      resolve({ ok: error === undefined && done, ...(error ? { error } : done ? {} : { error: '[DONE] missing' }), ttftMs: arrivals[0]?.ms ?? NaN, arrivals, text })
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
        onResponseStart(_c, status) {
          if (status !== 200) error = `HTTP ${status}`
        },
        onResponseData(_c, chunk) {
          buf += decoder.decode(chunk, { stream: true })
          scan(Number(hr() - t0) / 1e6)
        },
        onResponseEnd: finish,
        onResponseError(_c, err) {
          error ??= err.message
          finish()
        },
      },
    )
  })
}

/**
 * How late each delta's text arrived against the chatbot's schedule (delta k is sent k pace
 * intervals after the first): lateness_k = arrival of text through delta k − k × pace.
 * @param {{ chars: number, ms: number }[]} arrivals @param {number[]} deltaEnds cumulative length after each delta @param {number} paceMs
 */
export function lateness(arrivals, deltaEnds, paceMs) {
  /** @type {number[]} */
  const out = []
  let j = 0
  for (let k = 0; k < deltaEnds.length; k++) {
    while (j < arrivals.length && arrivals[j].chars < deltaEnds[k]) j++
    if (j === arrivals.length) break
    out.push(arrivals[j].ms - k * paceMs)
  }
  return out
}

/** Where each delta ends: the demo chatbot's deltas, read once without pacing. @param {string} origin @param {number} deltas */
export async function deltaBoundaries(origin, deltas) {
  const pool = new Pool(origin, { connections: 1 })
  const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', 'x-demo-deltas': String(deltas), 'x-demo-pace-ms': '0' }, body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'stream please' }], stream: true }) })
  const raw = await res.body.text()
  await pool.close()
  /** @type {number[]} */
  const ends = []
  let n = 0
  for (const line of raw.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue
    const c = JSON.parse(line.slice(6))?.choices?.[0]?.delta?.content
    if (typeof c === 'string' && c !== '') ends.push((n += c.length))
  }
  return ends
}
