/**
 * The deploy files: the systemd unit passes systemd's own checks with a low exposure score, and the
 * container image's tree, staged from the Dockerfile's own COPY and RUN lines (no Docker daemon here;
 * npm works from its cache, offline), builds, keeps only production dependencies, and serves.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from './helpers/cli.js';
import { eventually, freePort } from './helpers/server.js';

const UNIT = join(REPO, 'deploy', 'port545.service');
const DOCKERFILE = join(REPO, 'deploy', 'Dockerfile');

describe('the systemd unit', () => {
  it('passes systemd-analyze verify', () => {
    const run = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr.trim(), '', 'no warnings');
  });

  it('is sandboxed: systemd-analyze security rates its exposure at 2.0 or less ("OK")', (t) => {
    const run = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=20', UNIT], {
      encoding: 'utf8',
    });
    const overall = /Overall exposure level for port545\.service: ([\d.]+)/.exec(run.stdout);
    assert.ok(overall, run.stdout + run.stderr);
    t.diagnostic(`exposure ${overall[1]}`);
    assert.equal(run.status, 0, `exposure ${overall[1]} is above 2.0`);
  });
});

/** The lines of one stage of the Dockerfile, continuation lines joined. */
function stages(): string[][] {
  const lines = readFileSync(DOCKERFILE, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const out: string[][] = [];
  for (const line of lines) {
    if (line.startsWith('FROM ')) out.push([]);
    out.at(-1)!.push(line);
  }
  return out;
}

describe('the container image', () => {
  it('runs as a user that is not root, and only its server binds port 545', () => {
    const [, run] = stages();
    assert.ok(run, 'a build stage and a run stage');
    assert.ok(
      run.some((l) => /^USER (?!root\b|0\b)\S+/.test(l)),
      'USER is not root',
    );
    assert.ok(
      run.some((l) => l.includes('setcap cap_net_bind_service=+ep')),
      'node may bind 545',
    );
    assert.ok(
      run.some((l) => l.startsWith('EXPOSE ') && l.includes('545/tcp')),
      'port 545 is exposed',
    );
  });

  it('stages from its COPY and RUN lines into a tree that has no dev dependencies and serves', async (t) => {
    const [build, run] = stages() as [string[], string[]];
    const root = mkdtempSync(join(tmpdir(), 'port545-image-'));
    const src = join(root, 'src-stage');
    const app = join(root, 'run-stage');
    mkdirSync(src);
    mkdirSync(app);
    let server: ChildProcess | undefined;
    try {
      // The build stage: its COPY lines from the repository, its RUN lines in order.
      for (const line of build) {
        const copy = /^COPY (.+) (\S+)$/.exec(line);
        if (copy) {
          const sources = copy[1]!.split(/\s+/);
          const into = join(src, copy[2]!);
          for (const source of sources) {
            const target = sources.length > 1 || copy[2]!.endsWith('/') ? join(into, source) : into;
            mkdirSync(dirname(target), { recursive: true });
            cpSync(join(REPO, source), target, { recursive: true });
          }
        }
        const runLine = /^RUN (.+)$/.exec(line);
        // From npm's cache, which `npm test`'s own `npm ci` filled: a test sends nothing off this machine.
        if (runLine)
          execFileSync('sh', ['-c', runLine[1]!], {
            cwd: src,
            stdio: 'pipe',
            timeout: 600_000,
            env: { ...process.env, npm_config_offline: 'true' },
          });
      }
      // The run stage: what it copies from the build stage.
      for (const line of run) {
        const copy = /^COPY --from=build (\S+) (\S+)$/.exec(line);
        if (!copy) continue;
        const from = copy[1]!.replace(/^\/src\/?/, '');
        const target = copy[2] === './' ? join(app, from) : join(app, copy[2]!);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(join(src, from), target, { recursive: true });
      }
      const installed = JSON.parse(
        execFileSync('npm', ['ls', '--omit=dev', '--depth=0', '--json'], { cwd: app, encoding: 'utf8' }),
      ) as { dependencies: Record<string, unknown> };
      const dev = Object.keys(
        (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { devDependencies: object })
          .devDependencies,
      );
      for (const name of dev)
        assert.ok(!(name in installed.dependencies), `the image holds no dev dependency (${name})`);

      const entry = run.find((l) => l.startsWith('ENTRYPOINT '))!;
      const command = JSON.parse(entry.slice('ENTRYPOINT '.length)) as string[];
      assert.equal(command[0], 'node');
      const port = await freePort();
      server = spawn(process.execPath, [...command.slice(1), '--port', String(port), '--host', '127.0.0.1'], {
        cwd: app,
        env: { ...process.env, PORT545_DATA_DIR: join(root, 'data'), PORT545_RTC_HOST: '127.0.0.1' },
        stdio: 'ignore',
      });
      let page = '';
      await eventually(
        'the image serves its health and web client',
        async () => {
          try {
            const health = await fetch(`http://127.0.0.1:${port}/healthz`);
            page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
            return health.ok && page.includes('<html');
          } catch {
            return false;
          }
        },
        60_000,
        250,
      );
      t.diagnostic(
        `staged image tree: ${Object.keys(installed.dependencies).length} production dependencies`,
      );
    } finally {
      server?.kill('SIGTERM');
      if (server && server.exitCode === null) await new Promise((resolve) => server!.once('exit', resolve));
      rmSync(root, { recursive: true, force: true });
    }
  });
});
