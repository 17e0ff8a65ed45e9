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

/** One machine of a `NatNetwork`: a network namespace and its address. */
export interface NetHost {
  name: string;
  ip: string;
}

/**
 * A small internet of namespaces: a router with machines on its public side (`server`, `turn`), each on
 * its own /30 link, and a LAN behind it (`client`), whose traffic out it can NAT and filter (`nft`).
 * Every machine's default route is the router, and the router has none: nothing reaches beyond these
 * namespaces, not even this one.
 */
export interface NatNetwork {
  /** `ip`: its address on the server's link, which the server sees of the LAN when the router NATs it. */
  router: NetHost;
  /** Machines on the public side: the router forwards between them and to the LAN as it is told. */
  server: NetHost;
  turn: NetHost;
  /** Another public machine: a second person's, on a network of its own (no NAT). */
  other: NetHost;
  /** A machine on the LAN behind the router. */
  client: NetHost;
  /** The LAN's subnet, as nftables writes it (`10.254.x.8/30`). */
  lanSubnet: string;
  /** The router's device on the LAN, for rules that tell inside from outside. */
  lanDevice: string;
  /** The command prefix that runs a program on `host` (for runCli's wrapper). */
  exec(host: NetHost): string[];
  /** Starts a process on `host`; `close` ends it. */
  spawn(host: NetHost, command: string, args: string[]): ChildProcess;
  /** Loads an nftables ruleset (`nft -f`) on `host`, e.g. the router's NAT and firewall. */
  nft(host: NetHost, ruleset: string): Promise<void>;
  close(): Promise<void>;
}

/** Runs `nft -f -` in namespace `name` with `ruleset` on its standard input. */
function nftIn(name: string, ruleset: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', name, 'nft', '-f', '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`nft in ${name} exited ${code}: ${stderr}\n${ruleset}`)),
    );
    child.stdin.end(ruleset);
  });
}

export async function createNatNetwork(): Promise<NatNetwork> {
  const tag = `${process.pid % 100_000}${Math.floor(Math.random() * 100)}`;
  const x = await freeSubnet();
  const router = { name: `p545r-${tag}`, ip: '' };
  const roles = ['server', 'turn', 'client', 'other'] as const;
  // Link i is 10.254.x.(4i)/30: the router at .4i+1, the machine at .4i+2.
  const links = roles.map((role, i) => ({
    host: { name: `p545${role[0]}-${tag}`, ip: `10.254.${x}.${4 * i + 2}` },
    routerIp: `10.254.${x}.${4 * i + 1}`,
    routerDev: `r545${role[0]}${tag}`.slice(0, 15),
    hostDev: `h545${role[0]}${tag}`.slice(0, 15),
  }));
  const names = [router.name, ...links.map((l) => l.host.name)];
  const children = new Set<ChildProcess>();
  const [server, turn, client, other] = links as [
    (typeof links)[0],
    (typeof links)[0],
    (typeof links)[0],
    (typeof links)[0],
  ];
  router.ip = server.routerIp;
  const network: NatNetwork = {
    router,
    server: server.host,
    turn: turn.host,
    client: client.host,
    other: other.host,
    lanSubnet: `10.254.${x}.${4 * 2}/30`,
    lanDevice: client.routerDev,
    exec: (host) => ['ip', 'netns', 'exec', host.name],
    spawn: (host, command, args) => spawnIn(host.name, children, command, args),
    nft: (host, ruleset) => nftIn(host.name, ruleset),
    async close() {
      await endChildren(children);
      for (const name of names) await ip('netns', 'del', name).catch(() => {});
    },
  };
  try {
    for (const name of names) await ip('netns', 'add', name);
    await ip('-n', router.name, 'link', 'set', 'lo', 'up');
    await run('ip', ['netns', 'exec', router.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const l of links) {
      const { name } = l.host;
      await ip(
        'link',
        'add',
        l.routerDev,
        'netns',
        router.name,
        'type',
        'veth',
        'peer',
        'name',
        l.hostDev,
        'netns',
        name,
      );
      await ip('-n', router.name, 'addr', 'add', `${l.routerIp}/30`, 'dev', l.routerDev);
      await ip('-n', router.name, 'link', 'set', l.routerDev, 'up');
      await ip('-n', name, 'addr', 'add', `${l.host.ip}/30`, 'dev', l.hostDev);
      await ip('-n', name, 'link', 'set', l.hostDev, 'up');
      await ip('-n', name, 'link', 'set', 'lo', 'up');
      await ip('-n', name, 'route', 'add', 'default', 'via', l.routerIp);
    }
  } catch (error) {
    await network.close();
    throw error;
  }
  return network;
}
