import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/config.js';
import { ConfigError, resolveTls } from '../config/config.js';
import { ensureSelfSignedCertificate } from './selfSigned.js';

/** What the HTTPS listener serves, and what start-up and `port545 probe` show of it. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 of the leaf certificate's DER, as browsers show it (`AB:CD:…`). */
  fingerprint256: string;
  subject: string;
  validTo: string;
  selfSigned: boolean;
  certPath: string;
  keyPath: string;
  /** A self-signed certificate was made on this start. */
  created: boolean;
}

async function readOrExplain(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ConfigError(`cannot read the TLS ${what} ${path}: ${(error as Error).message}`);
  }
}

/**
 * Loads the configured certificate and key, or makes/reuses the self-signed one (asked for, or by default
 * on a host beyond loopback: `resolveTls`); undefined without TLS.
 */
export async function loadTlsMaterial(
  config: Pick<Config, 'tls' | 'dataDir' | 'host'>,
): Promise<TlsMaterial | undefined> {
  const mode = resolveTls(config);
  if (mode === 'off') return undefined;
  if (mode === 'files') return readTlsFiles(config.tls.cert!, config.tls.key!, false);
  let files: { certPath: string; keyPath: string; created: boolean };
  try {
    files = await ensureSelfSignedCertificate(config.dataDir);
  } catch (error) {
    throw new ConfigError(
      `cannot keep a self-signed certificate in ${config.dataDir}: ${(error as Error).message} (choose a writable --data-dir)`,
    );
  }
  return readTlsFiles(files.certPath, files.keyPath, true, files.created);
}

/**
 * Reads a certificate and its key and checks that they belong together; a ConfigError says what is
 * wrong (a file missing, not PEM, or a key of another certificate).
 */
export async function readTlsFiles(
  certPath: string,
  keyPath: string,
  selfSigned: boolean,
  created = false,
): Promise<TlsMaterial> {
  const cert = await readOrExplain(certPath, 'certificate');
  const key = await readOrExplain(keyPath, 'key');
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError(`${certPath} is not a PEM certificate: ${(error as Error).message}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new ConfigError(`${keyPath} is not a PEM private key: ${(error as Error).message}`);
  }
  if (!parsed.checkPrivateKey(privateKey))
    throw new ConfigError(`the TLS key ${keyPath} does not belong to the certificate ${certPath}`);
  return {
    cert,
    key,
    fingerprint256: parsed.fingerprint256,
    subject: parsed.subject.replace(/\n/g, ', '),
    validTo: parsed.validTo,
    selfSigned,
    certPath,
    keyPath,
    created,
  };
}
