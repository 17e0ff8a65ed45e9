import { readdir, readFile, readlink } from 'node:fs/promises';

/** A TCP socket in LISTEN state on this machine, with the process that holds it when that can be seen. */
export interface LocalListener {
  address: string;
  port: number;
  uid: number;
  user: string | undefined;
  inode: number;
  /** Processes holding the socket (a forked server shares it); empty when /proc/<pid>/fd is not readable. */
  processes: { pid: number; command: string; cmdline: string }[];
}

/** `0100007F` → 127.0.0.1; the kernel prints each 32-bit word in host (little-endian) order. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // The URL parser writes an IPv6 address in its canonical short form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** LISTEN = 0x0A in include/net/tcp_states.h. */
const TCP_LISTEN = '0A';

async function listenersIn(file: string, port: number): Promise<Omit<LocalListener, 'user' | 'processes'>[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  const found: Omit<LocalListener, 'user' | 'processes'>[] = [];
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
    const [addressHex, portHex] = f[1]!.split(':');
    if (Number.parseInt(portHex!, 16) !== port) continue;
    found.push({
      address: decodeAddress(addressHex!),
      port,
      uid: Number(f[7]),
      inode: Number(f[9]),
    });
  }
  return found;
}

async function userName(uid: number): Promise<string | undefined> {
  try {
    const passwd = await readFile('/etc/passwd', 'utf8');
    for (const line of passwd.split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid) return f[0];
    }
  } catch {}
  return undefined;
}

/** Maps socket inodes to the processes whose file descriptors point at them (readable ones only). */
async function socketOwners(inodes: Set<number>): Promise<Map<number, number[]>> {
  const owners = new Map<number, number[]>();
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  } catch {
    return owners;
  }
  await Promise.all(
    pids.map(async (pid) => {
      let fds: string[];
      try {
        fds = await readdir(`/proc/${pid}/fd`);
      } catch {
        return; // another user's process, or gone
      }
      for (const fd of fds) {
        let link: string;
        try {
          link = await readlink(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (!m || !inodes.has(Number(m[1]))) continue;
        const list = owners.get(Number(m[1])) ?? [];
        if (!list.includes(Number(pid))) list.push(Number(pid));
        owners.set(Number(m[1]), list);
      }
    }),
  );
  return owners;
}

async function describe(pid: number): Promise<{ pid: number; command: string; cmdline: string }> {
  const read = (f: string) => readFile(`/proc/${pid}/${f}`, 'utf8').catch(() => '');
  const [comm, cmdline] = await Promise.all([read('comm'), read('cmdline')]);
  return { pid, command: comm.trim(), cmdline: cmdline.split('\0').filter(Boolean).join(' ') };
}

/**
 * Who listens on TCP `port` on this machine, from /proc/net/tcp{,6} and /proc/<pid>/fd (Linux; no
 * external tool). Returns undefined where /proc/net is not there (not Linux).
 */
export async function localListeners(port: number): Promise<LocalListener[] | undefined> {
  const [v4, v6] = await Promise.all([
    listenersIn('/proc/net/tcp', port),
    listenersIn('/proc/net/tcp6', port),
  ]);
  const all = [...v4, ...v6];
  if (all.length === 0) {
    try {
      await readFile('/proc/net/tcp', 'utf8');
    } catch {
      return undefined;
    }
  }
  const owners = await socketOwners(new Set(all.map((l) => l.inode)));
  return Promise.all(
    all.map(async (l) => ({
      ...l,
      user: await userName(l.uid),
      processes: await Promise.all((owners.get(l.inode) ?? []).map(describe)),
    })),
  );
}
