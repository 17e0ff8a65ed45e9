import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second (`getconf CLK_TCK`); the unit of utime/stime in /proc/<pid>/stat. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const PAGE_BYTES = (() => {
  try {
    return Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;
  } catch {
    return 4096;
  }
})();

export interface ProcSample {
  /** performance.now() when sampled (ms). */
  atMs: number;
  /** user + system CPU time of the process, all threads (seconds). */
  cpuSeconds: number;
  /** System (kernel) part of cpuSeconds: socket sends and receives are mostly here. */
  sysSeconds: number;
  /** CPU time of the main (JavaScript) thread alone; the rest is V8's GC helpers and libuv's pool. */
  mainThreadSeconds: number;
  rssBytes: number;
}

function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  // proc(5): the command name (field 2) is in parentheses and may hold spaces; count fields after it.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Reads CPU time and resident memory of a process from /proc (Linux). */
export function sampleProcess(pid: number): ProcSample {
  const fields = statFields(`/proc/${pid}/stat`);
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  const rssPages = Number(fields[21]); // field 24
  // The main thread's task id is the process id.
  const main = statFields(`/proc/${pid}/task/${pid}/stat`);
  return {
    atMs: performance.now(),
    cpuSeconds: (utime + stime) / CLK_TCK,
    sysSeconds: stime / CLK_TCK,
    mainThreadSeconds: (Number(main[11]) + Number(main[12])) / CLK_TCK,
    rssBytes: rssPages * PAGE_BYTES,
  };
}

/** CPU use between two samples, as a fraction of one core. */
export function cpuShare(a: ProcSample, b: ProcSample): number {
  const wall = (b.atMs - a.atMs) / 1000;
  return wall > 0 ? (b.cpuSeconds - a.cpuSeconds) / wall : 0;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  kernel: string;
  /** 1-minute load average when the run started: above ~0.5 other work shared the machine. */
  loadAverage: number[];
}

export function machineInfo(cpus: number, loadAverage: number[]): MachineInfo {
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel;
  } catch {}
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {}
  return { cpus, cpuModel, node: process.version, kernel, loadAverage };
}
