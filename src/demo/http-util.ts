/** Small node:http helpers shared by the demo chatbot's routes. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { errorBody } from './openai-shapes.js'

export const MAX_BODY_BYTES = 1024 * 1024
// Past this much discarded overflow the client is not worth an orderly 413 any more.
const MAX_DISCARD_BYTES = 64 * 1024 * 1024

export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'aborted' }

/**
 * Reads a body of at most `limit` bytes. An oversized body is read to its end and discarded
 * rather than cut off, so the client gets a clean 413 instead of a reset mid-upload.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<BodyResult> {
  return new Promise((resolve) => {
    const parts: Buffer[] = []
    let size = 0
    let settled = false
    const settle = (r: BodyResult) => {
      if (!settled) {
        settled = true
        resolve(r)
      }
    }
    req.on('data', (buf: Buffer) => {
      size += buf.length
      if (size <= limit) parts.push(buf)
      else if (size > limit + MAX_DISCARD_BYTES) {
        req.destroy()
        settle({ ok: false, reason: 'too_large' })
      } else parts.length = 0
    })
    req.on('end', () => settle(size > limit ? { ok: false, reason: 'too_large' } : { ok: true, body: Buffer.concat(parts, size) }))
    req.on('error', () => settle({ ok: false, reason: 'aborted' }))
    req.on('close', () => settle({ ok: false, reason: 'aborted' }))
  })
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return
  const body = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers })
  res.end(body)
}

export function sendError(res: ServerResponse, status: number, message: string, code: string | null = null): void {
  sendJson(res, status, errorBody(status, message, code))
}

/** A non-negative integer header within bounds, or undefined when absent or malformed. */
export function intHeader(req: IncomingMessage, name: string, min: number, max: number): number | undefined {
  const raw = req.headers[name]
  if (typeof raw !== 'string' || !/^\d+$/.test(raw.trim())) return undefined
  const n = Number(raw.trim())
  return n >= min && n <= max ? n : undefined
}

/** Waits `ms`, resolving false early when the client goes away so that nothing is left scheduled. */
export function waitUnlessClosed(res: ServerResponse, ms: number): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(!res.destroyed)
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = setTimeout(() => {
      res.off('close', onClose)
      resolve(!res.destroyed)
    }, ms)
    res.once('close', onClose)
  })
}
