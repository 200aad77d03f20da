/**
 * `host:port` listen addresses. IPv6 hosts are bracketed (`[::]:8080`) so the last colon is
 * always the port separator. Port 0 is accepted: it asks the OS for a free port (tests use it).
 */
export interface HostPort {
  /** Without brackets, ready for net.Server.listen. */
  readonly host: string
  readonly port: number
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const IPV6 = /^[0-9A-Fa-f:.]+$/
const PORT = /^(0|[1-9]\d{0,4})$/

export function splitHostPort(listen: string): HostPort | undefined {
  const colon = listen.lastIndexOf(':')
  if (colon <= 0) return undefined
  let host = listen.slice(0, colon)
  const portText = listen.slice(colon + 1)
  if (!PORT.test(portText) || Number(portText) > 65535) return undefined
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1)
    if (!IPV6.test(host) || !host.includes(':')) return undefined
  } else if (!IPV4.test(host) && !(HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) {
    return undefined
  }
  return { host, port: Number(portText) }
}
