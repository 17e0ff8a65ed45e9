import { hostname } from 'node:os';
import { Bonjour, type Service } from 'bonjour-service';
import type { Logger } from 'pino';

/**
 * LAN discovery, as QuickTime Conferencing's Browser did it: each server advertises itself by DNS-SD over
 * multicast DNS (RFC 6762/6763) as `_port545._tcp`, and `port545 browse` lists what answers. The library
 * is bonjour-service (multicast-dns underneath, as werift already uses).
 */
export const SERVICE_TYPE = 'port545';

/** What a server tells in its TXT record (RFC 6763 §6: short key=value strings). */
export interface DiscoveryTxt {
  /** The server's version. */
  version: string;
  /** `open` or `secured`. */
  mode: string;
  /** `1` when the port speaks HTTPS and WSS, `0` for plain HTTP. */
  tls: string;
  /** How many rooms their hosts listed (GET /directory lists them). */
  rooms: string;
  /** With TLS: the SHA-256 fingerprint of the certificate, so a browser of the LAN can pin it. */
  fp?: string;
}

/** How often the listed-room count is looked at; the TXT record is announced again when it changed. */
const REFRESH_MS = 5000;
/** The longest a goodbye may take when the server stops. */
const CLOSE_DEADLINE_MS = 1000;

export interface AdvertiseOptions {
  /** The instance name people see; default "port545 on <hostname>" (with the port when not 545). */
  name?: string;
  port: number;
  /** The HTTP host the server listens on: a single IPv4 address restricts mDNS to that interface. */
  host: string;
  version: string;
  mode: 'open' | 'secured';
  tls: boolean;
  /** With TLS: the SHA-256 fingerprint served now (a renewed certificate is announced again). */
  fingerprint256?: () => string | undefined;
  /** How many rooms are listed now (the directory). */
  listedRooms(): Promise<number>;
  log: Logger;
}

export function defaultInstanceName(port: number): string {
  // One DNS label: at most 63 bytes, no dots (a hostname may be a full domain name).
  const base = `port545 on ${hostname().split('.')[0] || 'localhost'}`;
  return (port === 545 ? base : `${base}:${port}`).slice(0, 63);
}

/**
 * Advertises one server until `close`, which says goodbye (records with TTL 0) so browsers forget it at
 * once. Errors of the multicast socket (no multicast route, port 5353 refused) are logged, never thrown:
 * discovery is a convenience, the server runs without it.
 */
export class Advertiser {
  readonly name: string;
  private readonly bonjour: Bonjour;
  private service: Service | undefined;
  private rooms = 0;
  private fingerprint: string | undefined;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: AdvertiseOptions) {
    this.name = options.name ?? defaultInstanceName(options.port);
    this.fingerprint = options.fingerprint256?.();
    const single = /^\d+\.\d+\.\d+\.\d+$/.test(options.host) && options.host !== '0.0.0.0';
    // The options reach multicast-dns too (its `interface`), though bonjour-service types them as a service's.
    const socketOptions = (single ? { interface: options.host } : {}) as ConstructorParameters<
      typeof Bonjour
    >[0];
    this.bonjour = new Bonjour(socketOptions, (error: Error) =>
      options.log.warn({ err: error }, 'LAN discovery (mDNS) is not available'),
    );
    this.publish(true);
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  private txt(): DiscoveryTxt {
    const { version, mode, tls } = this.options;
    const fp = this.fingerprint;
    return {
      version,
      mode,
      tls: tls ? '1' : '0',
      rooms: String(this.rooms),
      ...(tls && fp ? { fp: fp.replaceAll(':', '').toLowerCase() } : {}),
    };
  }

  private publish(probe: boolean): void {
    // With `probe`, a name already taken on the LAN is found before it is announced (RFC 6762 §8.1).
    this.service = this.bonjour.publish({
      name: this.name,
      type: SERVICE_TYPE,
      protocol: 'tcp',
      port: this.options.port,
      txt: this.txt(),
      probe,
    });
  }

  /** Announces the TXT record again when the number of listed rooms or the certificate changed. */
  private async refresh(): Promise<void> {
    const rooms = await this.options.listedRooms().catch(() => this.rooms);
    const fingerprint = this.options.fingerprint256?.();
    if (this.closed || (rooms === this.rooms && fingerprint === this.fingerprint)) return;
    this.rooms = rooms;
    this.fingerprint = fingerprint;
    const old = this.service;
    if (!old?.published) return; // still probing: the next refresh announces the new count
    old.stop?.(() => {
      if (!this.closed) this.publish(false);
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearInterval(this.timer);
    return new Promise((resolve) => {
      const deadline = setTimeout(finish, CLOSE_DEADLINE_MS);
      let done = false;
      const bonjour = this.bonjour;
      function finish() {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        bonjour.destroy(() => resolve());
      }
      this.bonjour.unpublishAll(finish);
    });
  }
}
