import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_PORT, parseConfig, resolveWorkers } from '../src/config/config.js';
import { loadConfig } from '../src/config/loadConfig.js';

describe('configuration', () => {
  it('defaults to port 545 on all interfaces, not explicit', () => {
    const c = loadConfig([], {});
    assert.equal(c.port, DEFAULT_PORT);
    assert.equal(c.host, '::');
    assert.equal(c.portExplicit, false);
    assert.equal(c.rtc.minPort < c.rtc.maxPort, true);
  });

  it('takes file < environment < flags, and any of them makes the port explicit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'port545-'));
    const file = join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({ port: 7000, rtc: { minPort: 41000, maxPort: 42000 }, logLevel: 'warn' }),
    );
    const fromFile = loadConfig(['--config', file], {});
    assert.equal(fromFile.port, 7000);
    assert.equal(fromFile.portExplicit, true);
    assert.equal(fromFile.rtc.minPort, 41000);
    const fromEnv = loadConfig(['--config', file], {
      PORT545_PORT: '7001',
      PORT545_ANNOUNCED_IP: '203.0.113.7',
    });
    assert.equal(fromEnv.port, 7001);
    assert.equal(fromEnv.rtc.announcedIp, '203.0.113.7');
    assert.equal(fromEnv.rtc.minPort, 41000, 'the file still counts where nothing overrides it');
    const fromFlag = loadConfig(['--config', file, '--port', '7002', '--rtc-host', '127.0.0.1,::1'], {
      PORT545_PORT: '7001',
    });
    assert.equal(fromFlag.port, 7002);
    assert.deepEqual(fromFlag.rtc.hostAddresses, ['127.0.0.1', '::1']);
    assert.equal(loadConfig([], { PORT545_PORT: '8000' }).portExplicit, true);
  });

  it('names the bad setting in its errors', () => {
    assert.throws(
      () => loadConfig(['--port', '99999'], {}),
      /port: Number must be less than or equal to 65535/,
    );
    assert.throws(
      () => loadConfig(['--announced-ip', 'not-an-ip'], {}),
      /rtc\.announcedIp: not an IP address/,
    );
    // A port forward: the address and the port seen from outside.
    assert.equal(loadConfig(['--announced-ip', '203.0.113.7:545'], {}).rtc.announcedIp, '203.0.113.7:545');
    assert.equal(
      loadConfig(['--announced-ip', '[2001:db8::7]:545'], {}).rtc.announcedIp,
      '[2001:db8::7]:545',
    );
    assert.throws(
      () => loadConfig(['--announced-ip', '203.0.113.7:0'], {}),
      /rtc\.announcedIp: not an IP address/,
    );
    assert.throws(
      () => loadConfig(['--announced-ip', '203.0.113.7:545', '--udp-port', 'range'], {}),
      /announcedIp with a port needs the media on one UDP port/,
    );
    assert.throws(() => loadConfig(['--log-level', 'loud'], {}), /logLevel: Invalid enum value/);
    assert.throws(() => loadConfig(['--bogus'], {}), /Unknown option '--bogus'/);
    assert.throws(
      () => parseConfig({ rooms: { maxParticipant: 3 } }),
      /rooms: Unrecognized key\(s\) in object: 'maxParticipant'/,
    );
    assert.throws(() => loadConfig(['--config', '/nonexistent/port545.json'], {}), /cannot read config file/);
    assert.throws(() => parseConfig({ port: 'x' }), ConfigError);
  });
});

describe('room workers', () => {
  it('runs one per core by default, none on one core, and as many as asked with --workers', () => {
    assert.equal(loadConfig([], {}).workers, 'auto');
    assert.equal(resolveWorkers(loadConfig([], {}), 4), 4);
    assert.equal(resolveWorkers(loadConfig([], {}), 1), 0);
    assert.equal(resolveWorkers(loadConfig(['--workers', '3'], {}), 2), 3);
    assert.equal(resolveWorkers(loadConfig([], { PORT545_WORKERS: '0' }), 8), 0);
    assert.equal(loadConfig(['--workers', 'auto'], { PORT545_WORKERS: '2' }).workers, 'auto');
  });

  it('keeps the workers asked for when the SIP gateway is on (calls run on their rooms’ workers)', () => {
    assert.equal(resolveWorkers(loadConfig(['--sip', '--workers', '2'], {}), 2), 2);
    assert.equal(resolveWorkers(loadConfig(['--sip'], {}), 4), 4);
  });

  it('refuses a worker count that is not a number or auto, naming the setting', () => {
    assert.throws(
      () => loadConfig(['--workers', 'many'], {}),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /--workers: "many" is not a number/);
        return true;
      },
    );
    assert.throws(() => loadConfig(['--workers', '-1'], {}), /workers/);
  });

  it('advertises on the LAN by default; --no-mdns, PORT545_MDNS=off or the file turn it off', () => {
    assert.equal(loadConfig([], {}).mdns.enabled, true);
    assert.equal(loadConfig(['--no-mdns'], {}).mdns.enabled, false);
    assert.equal(loadConfig([], { PORT545_MDNS: 'off' }).mdns.enabled, false);
    // A flag beats the environment, both ways.
    assert.equal(loadConfig(['--mdns'], { PORT545_MDNS: 'off' }).mdns.enabled, true);
    assert.equal(loadConfig(['--no-mdns'], { PORT545_MDNS: 'on' }).mdns.enabled, false);
    assert.equal(loadConfig(['--mdns-name', 'Studio 5'], {}).mdns.name, 'Studio 5');
    assert.throws(() => loadConfig(['--mdns-name', 'a.b'], {}), /mdns\.name: must be one DNS label/);
    assert.throws(() => loadConfig(['--mdns-name', 'x'.repeat(64)], {}), /mdns\.name/);
  });
});
