import { type Stats, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import { readTlsFiles, type TlsMaterial } from './tlsMaterial.js';

export interface CertificateWatcherOptions {
  certPath: string;
  keyPath: string;
  /** The fingerprint served now: a change of the files that leaves it the same is not a reload. */
  fingerprint256: string;
  /** Takes each new certificate whose files read as a matching pair. */
  onReload(material: TlsMaterial): void;
  log: Logger;
  /** How often the files are looked at (fs.watchFile polls: it sees a renewal through symlinks too). */
  pollMs?: number;
  /** How long the files must stay unchanged before they are read (a renewal writes two files). */
  quietMs?: number;
}

/**
 * Serves renewed certificates without a restart: watches the certificate and key files (as certbot
 * renews them, or any other tool), and once both have stopped changing reads them again. A pair that is
 * half-written, unreadable or does not match is logged and the certificate in use stays until the files
 * change again.
 */
export class CertificateWatcher {
  readonly #options: CertificateWatcherOptions;
  readonly #listener = (current: Stats, previous: Stats) => {
    if (
      current.mtimeMs !== previous.mtimeMs ||
      current.ino !== previous.ino ||
      current.size !== previous.size
    )
      this.#schedule();
  };
  #fingerprint: string;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: CertificateWatcherOptions) {
    this.#options = options;
    this.#fingerprint = options.fingerprint256;
    const interval = options.pollMs ?? 2000;
    for (const path of [options.certPath, options.keyPath])
      watchFile(path, { interval, persistent: false }, this.#listener);
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#reload(), this.#options.quietMs ?? 1000);
    this.#timer.unref();
  }

  async #reload(): Promise<void> {
    const { certPath, keyPath, log } = this.#options;
    let material: TlsMaterial;
    try {
      material = await readTlsFiles(certPath, keyPath, false);
    } catch (error) {
      if (!this.#closed)
        log.warn(
          { reason: (error as Error).message },
          'TLS certificate files changed but cannot be used; the certificate in use stays',
        );
      return;
    }
    if (this.#closed || material.fingerprint256 === this.#fingerprint) return;
    this.#fingerprint = material.fingerprint256;
    this.#options.onReload(material);
    log.info(
      { certPath, fingerprint256: material.fingerprint256, validTo: material.validTo },
      'TLS certificate reloaded',
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    unwatchFile(this.#options.certPath, this.#listener);
    unwatchFile(this.#options.keyPath, this.#listener);
  }
}
