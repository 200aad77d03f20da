// @ts-check
// CPU and memory of the processes under test, read from /proc so that the numbers cover exactly
// one process and cost nothing inside it.
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

let clockTicks = 0

function ticksPerSecond() {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** User + system CPU seconds a process has used so far. @param {number} pid */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces and parentheses; fields are counted after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return (utime + stime) / ticksPerSecond()
}

/** Summed CPU seconds of several processes. @param {number[]} pids */
export function cpuSecondsOf(pids) {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
}

/** Resident and peak-resident memory in MiB. @param {number} pid */
export function memoryMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (/** @type {string} */ key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 }
}

/** Direct children of a process (nginx's workers), found by scanning /proc. @param {number} ppid */
export function childPids(ppid) {
  /** @type {number[]} */
  const out = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (parent === ppid) out.push(Number(name))
    } catch {
      // The process ended while we looked.
    }
  }
  return out
}

/**
 * CPU seconds all processes together have spent (all cores), from /proc/stat. Interrupt time is
 * left out: loopback traffic is handled there and belongs to the benchmark, but no process is
 * charged for it.
 */
export function machineBusySeconds() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
  const [user = 0, nice = 0, system = 0] = cpu
  return (user + nice + system) / ticksPerSecond()
}

/** CPU seconds of this process and its reaped children (wrk runs), as the kernel counts them. */
export function selfCpuSeconds() {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / ticksPerSecond()
}
