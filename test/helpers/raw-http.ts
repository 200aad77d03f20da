import net from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  /** Body bytes as they came off the wire, de-chunked when chunked. */
  body: Buffer
  raw: Buffer
}

/** Sends bytes exactly as given over a fresh socket and reads the reply until the server closes. */
export function rawRequest(url: string, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname)
    const parts: Buffer[] = []
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error('raw request timed out'))
    }, timeoutMs)
    sock.on('connect', () => sock.write(request))
    sock.on('data', (d) => parts.push(d))
    sock.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    sock.on('close', () => {
      clearTimeout(timer)
      try {
        resolve(parseResponse(Buffer.concat(parts)))
      } catch (e) {
        reject(e as Error)
      }
    })
  })
}

export function parseResponse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) throw new Error(`no response head in ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`)
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(lines[0]!.split(' ')[1])
  const headers: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':')
    const k = l.slice(0, i).trim().toLowerCase()
    const v = l.slice(i + 1).trim()
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`
  }
  let body = raw.subarray(end + 4)
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') body = dechunk(body)
  return { status, headers, body, raw }
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = []
  let at = 0
  for (;;) {
    const nl = b.indexOf('\r\n', at)
    if (nl < 0) break
    const size = parseInt(b.subarray(at, nl).toString('latin1'), 16)
    if (!size) break
    out.push(b.subarray(nl + 2, nl + 2 + size))
    at = nl + 2 + size + 2
  }
  return Buffer.concat(out)
}
