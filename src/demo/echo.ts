/**
 * `ANY /echo/*`: tells the caller exactly what reached the upstream, so that proxy tests can check
 * header stripping and body streaming. The body is hashed as it arrives and never held, so bodies
 * of any size can be pushed through.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { intHeader, sendJson, waitUnlessClosed } from './http-util.js'

export interface EchoReply {
  method: string
  url: string
  httpVersion: string
  /** Name/value pairs in arrival order and original case, duplicates kept. */
  headers: [string, string][]
  body: { bytes: number; sha256: string }
}

export function handleEcho(req: IncomingMessage, res: ServerResponse): void {
  const hash = createHash('sha256')
  let bytes = 0
  req.on('data', (buf: Buffer) => {
    bytes += buf.length
    hash.update(buf)
  })
  req.on('end', () => {
    const reply: EchoReply = {
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      headers: pairs(req.rawHeaders),
      body: { bytes, sha256: hash.digest('hex') },
    }
    const delay = intHeader(req, 'x-demo-delay-headers-ms', 0, 600_000) ?? 0
    void waitUnlessClosed(res, delay).then((open) => {
      if (open) sendJson(res, 200, reply)
    })
  })
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!])
  return out
}
