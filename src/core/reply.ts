import { ERRORS, type ErrorCode } from './errors.js'

export interface ErrorReply {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Shapes a catalogue error as an HTTP reply. The body follows OpenAI's error envelope so that
 * the SDKs clients already use surface `code` and `message` without any change on their side.
 */
export function errorReply(code: ErrorCode, requestId: string, extraHeaders?: Record<string, string>, fields?: Readonly<Record<string, string | number>>): ErrorReply {
  const { status, message } = ERRORS[code]
  const body = JSON.stringify({ error: { ...fields, type: 'chaperone_error', code, message, request_id: requestId } })
  return {
    status,
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...extraHeaders,
    },
    body,
  }
}
