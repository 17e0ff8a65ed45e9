import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A network namespace joined to this one by a veth pair: a second machine on a private /30, reachable only
 * from here. Nothing in it routes anywhere else (it has no default route), so its traffic never leaves
 * the host. `cap` puts a token bucket (tc tbf) on each direction of the link, the way a congested or
 * failing uplink behaves; `lift` removes it.
 */
export interface NetnsLink {
  name: string;
  /** This side's address on the link. */
  hostIp: string;
  /** The namespace's address. */
  nsIp: string;
  /** Caps the link: `downKbit` towards the namespace, `upKbit` back. */
  cap(downKbit: number, upKbit: number): Promise<void>;
  lift(): Promise<void>;
  /** Starts a process inside the namespace. */
  spawn(command: string, args: string[]): ChildProcess;
  close(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

async function tc(...args: string[]): Promise<void> {
  await run('tc', args);
}

/** Why namespaces cannot be made here, or undefined when they can (root, `ip netns` permitted). */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  const probe = `p545probe${process.pid}`;
  try {
    await ip('netns', 'add', probe);
    await ip('netns', 'del', probe);
    await run('tc', ['-V']);
    return undefined;
  } catch (error) {
    return `ip netns is not permitted here: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** Picks a 10.254.x.0/30 that no local interface uses. */
async function freeSubnet(): Promise<number> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr']);
  for (let tries = 0; tries < 64; tries++) {
    const x = 1 + Math.floor(Math.random() * 250);
    if (!stdout.includes(`10.254.${x}.`)) return x;
  }
  throw new Error('no free 10.254.x.0/30 subnet for a test namespace');
}

/** Starts `command` inside namespace `name`, kept in `children` until it exits. */
function spawnIn(name: string, children: Set<ChildProcess>, command: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after 5 s, for each process started in a namespace. */
async function endChildren(children: Set<ChildProcess>): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise((resolve) => child.once('exit', resolve)),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 5000);
      }),
    ]);
    // A child that exited in time leaves no timer behind (the soak counts them after everyone left).
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export async function createNetnsLink(): Promise<NetnsLink> {
  const tag = `${process.pid % 100_000}${Math.floor(Math.random() * 100)}`;
  const name = `p545-${tag}`;
  const hostDev = `v545h${tag}`.slice(0, 15);
  const nsDev = `v545n${tag}`.slice(0, 15);
  const x = await freeSubnet();
  const hostIp = `10.254.${x}.1`;
  const nsIp = `10.254.${x}.2`;
  await ip('netns', 'add', name);
  try {
    await ip('link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev);
    await ip('link', 'set', nsDev, 'netns', name);
    await ip('addr', 'add', `${hostIp}/30`, 'dev', hostDev);
    await ip('link', 'set', hostDev, 'up');
    await ip('-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', nsDev);
    await ip('-n', name, 'link', 'set', nsDev, 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
  } catch (error) {
    await ip('link', 'del', hostDev).catch(() => {});
    await ip('netns', 'del', name).catch(() => {});
    throw error;
  }
  const children = new Set<ChildProcess>();
  let capped = false;
  // A token bucket: `rate`, a burst of a few packets, and a queue that holds 400 ms before dropping.
  const tbf = (kbit: number) => ['tbf', 'rate', `${kbit}kbit`, 'burst', '16kbit', 'latency', '400ms'];
  const link: NetnsLink = {
    name,
    hostIp,
    nsIp,
    async cap(downKbit, upKbit) {
      await tc('qdisc', 'replace', 'dev', hostDev, 'root', ...tbf(downKbit));
      await run('ip', [
        'netns',
        'exec',
        name,
        'tc',
        'qdisc',
        'replace',
        'dev',
        nsDev,
        'root',
        ...tbf(upKbit),
      ]);
      capped = true;
    },
    async lift() {
      if (!capped) return;
      capped = false;
      await tc('qdisc', 'del', 'dev', hostDev, 'root').catch(() => {});
      await run('ip', ['netns', 'exec', name, 'tc', 'qdisc', 'del', 'dev', nsDev, 'root']).catch(() => {});
    },
    spawn: (command, args) => spawnIn(name, children, command, args),
    async close() {
      await endChildren(children);
      // Deleting the namespace deletes its veth end, and with it this one.
      await ip('netns', 'del', name).catch(() => {});
      await ip('link', 'del', hostDev).catch(() => {});
    },
  };
  return link;
}

/**
 * Two network namespaces joined by one veth pair: two machines on a private LAN (a 10.254.x.0/30) that
 * reaches nothing else, not even this namespace. Each has a route for multicast (224.0.0.0/4) on the
 * link, as a LAN's default route gives it, so multicast DNS works between them and goes nowhere else.
 */
export interface NetnsPair {
  a: { name: string; ip: string };
  b: { name: string; ip: string };
  /** The command prefix that runs a program inside `ns` (for runCli's wrapper). */
  exec(ns: { name: string }): string[];
  /** Starts a process inside `ns`; `close` ends it. */
  spawn(ns: { name: string }, command: string, args: string[]): ChildProcess;
  close(): Promise<void>;
}

export async function createNetnsPair(): Promise<NetnsPair> {
  const tag = `${process.pid % 100_000}${Math.floor(Math.random() * 100)}`;
  const x = await freeSubnet();
  const a = { name: `p545a-${tag}`, ip: `10.254.${x}.1`, dev: `v545a${tag}`.slice(0, 15) };
  const b = { name: `p545b-${tag}`, ip: `10.254.${x}.2`, dev: `v545b${tag}`.slice(0, 15) };
  await ip('netns', 'add', a.name);
  await ip('netns', 'add', b.name).catch(async (error: unknown) => {
    await ip('netns', 'del', a.name).catch(() => {});
    throw error;
  });
  const children = new Set<ChildProcess>();
  const pair: NetnsPair = {
    a: { name: a.name, ip: a.ip },
    b: { name: b.name, ip: b.ip },
    exec: (ns) => ['ip', 'netns', 'exec', ns.name],
    spawn: (ns, command, args) => spawnIn(ns.name, children, command, args),
    async close() {
      await endChildren(children);
      await ip('netns', 'del', a.name).catch(() => {});
      await ip('netns', 'del', b.name).catch(() => {});
    },
  };
  try {
    await ip('link', 'add', a.dev, 'netns', a.name, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.name);
    for (const end of [a, b]) {
      await ip('-n', end.name, 'addr', 'add', `${end.ip}/30`, 'dev', end.dev);
      await ip('-n', end.name, 'link', 'set', end.dev, 'up');
      await ip('-n', end.name, 'link', 'set', 'lo', 'up');
      await ip('-n', end.name, 'route', 'add', '224.0.0.0/4', 'dev', end.dev);
    }
  } catch (error) {
    await pair.close();
    throw error;
  }
  return pair;
}
