import { KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

/** A self-signed certificate is valid this long and made anew when fewer than RENEW_DAYS are left. */
const VALID_DAYS = 365;
const RENEW_DAYS = 7;
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface CertificateFiles {
  certPath: string;
  keyPath: string;
  /** True when this call made the certificate (first start, or the old one was about to expire). */
  created: boolean;
}

/** Names the certificate covers: localhost, loopback, this host's name and its current addresses. */
function subjectAltNames(): x509.JsonGeneralName[] {
  const names: x509.JsonGeneralName[] = [
    { type: 'dns', value: 'localhost' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
  ];
  const host = hostname();
  if (host && host !== 'localhost' && /^[A-Za-z0-9.-]+$/.test(host)) names.push({ type: 'dns', value: host });
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? [])
      if (!a.internal && !a.address.startsWith('fe80:')) names.push({ type: 'ip', value: a.address });
  return names;
}

async function usable(certPath: string, keyPath: string): Promise<boolean> {
  try {
    const cert = new X509Certificate(await readFile(certPath));
    await readFile(keyPath);
    return new Date(cert.validTo).getTime() - Date.now() > RENEW_DAYS * 86_400_000;
  } catch {
    return false;
  }
}

/**
 * The self-signed certificate kept in `<dataDir>/tls/`: made once (ECDSA P-256, SHA-256) with pure
 * JavaScript (@peculiar/x509 over WebCrypto, no openssl binary) and reused on every restart, so the
 * fingerprint people have checked stays the same. The key file is readable by its owner only.
 */
export async function ensureSelfSignedCertificate(dataDir: string): Promise<CertificateFiles> {
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'self-signed.crt');
  const keyPath = join(dir, 'self-signed.key');
  if (await usable(certPath, keyPath)) return { certPath, keyPath, created: false };

  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const keys = (await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    // RFC 5280 §4.1.2.2: a positive serial of up to 20 octets; clear the top bit so it stays positive.
    serialNumber:
      (randomBytes(16)[0]! & 0x7f).toString(16).padStart(2, '0') + randomBytes(15).toString('hex'),
    name: 'CN=port545 self-signed, O=port545',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + VALID_DAYS * 86_400_000),
    keys,
    signingAlgorithm: ECDSA,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames()),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyPath, keyPem, { mode: 0o600 });
  await chmod(keyPath, 0o600);
  await writeFile(certPath, cert.toString('pem'), { mode: 0o644 });
  return { certPath, keyPath, created: true };
}
