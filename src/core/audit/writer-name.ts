/**
 * A writer's name is in every record and names its directory, so it is one safe path segment.
 * Pod names (DNS subdomain names) always are.
 */
export const WRITER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/

/** The configured name, else the pod name (downward API), else the host name (a pod's is its name). */
export function resolveWriterName(configured: string | null, podName: string | undefined, hostname: string): string {
  const name = configured ?? (podName || hostname)
  if (!WRITER_NAME.test(name)) throw new Error(`audit writer name ${JSON.stringify(name)} is not a valid name (letters, digits, ".", "_" and "-", starting with a letter or digit)`)
  return name
}
