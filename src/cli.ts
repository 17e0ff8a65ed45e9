#!/usr/bin/env node
import { ConfigError, mediaUdpPort } from './config/config.js';
import { loadConfig, serveFlagHelp } from './config/loadConfig.js';
import { advertise, clusterLine, StartError, securityLines, startServer, urlsFor } from './serve.js';
import { VERSION } from './version.js';

const usage = `port545 ${VERSION}: self-hosted video conferencing on port 545

Usage:
  port545 serve [options]          run the server (HTTP, WebSocket and WebRTC media)
  port545 bot --url URL --room R   join a room and publish a looped test clip
  port545 token --room R --identity I [--name N] [--role host] [--ttl 1h]
                                   print an access token (needs PORT545_API_SECRET)
  port545 probe [HOST][:PORT]      tell what listens on TCP 545 (or PORT) of HOST (default localhost)
  port545 browse                   list the port545 servers on the local network and their listed rooms
  port545 doctor [URL] [--json]    check that a server (default http://localhost:545/) is reachable and
                                   that media flows through it (HTTP, WebSocket, UDP, a loopback call)
  port545 --version

${serveFlagHelp}
`;

/** Stop within this long after SIGINT/SIGTERM (and a cluster node's `--drain-ms`) even if something hangs. */
const SHUTDOWN_DEADLINE_MS = 4000;

async function serve(argv: string[]): Promise<void> {
  const config = loadConfig(argv);
  const { server, port, workers, sipPort } = await startServer(config, (line) => console.error(line));
  console.log(`port545 ${VERSION} is listening. Open:`);
  for (const url of urlsFor(config.host, port, server.tls !== undefined)) console.log(`  ${url}`);
  const udpPort = mediaUdpPort({ port, rtc: config.rtc });
  console.log(
    udpPort === undefined
      ? `WebRTC media uses UDP ports ${config.rtc.minPort}-${config.rtc.maxPort} (--udp-port range).`
      : `WebRTC media uses UDP port ${udpPort} (one port for all media; --udp-port).`,
  );
  console.log(
    workers > 0
      ? `Rooms run on ${workers} worker thread${workers === 1 ? '' : 's'} (--workers).`
      : 'Rooms run on the main thread (--workers 0).',
  );
  if (sipPort !== undefined)
    console.log(`Phones call sip:<room>@<this host>:${sipPort} (SIP over UDP and TCP).`);
  for (const line of securityLines(server)) console.log(line);
  const cluster = clusterLine(server);
  if (cluster) console.log(cluster);
  const { advertiser, line } = advertise(server, port);
  console.log(line);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`port545: ${signal} received; telling everyone to rejoin after the restart, closing rooms`);
    // A cluster node's rooms may go on for --drain-ms first: the deadline counts from after it.
    const drainMs = config.cluster.redis ? config.cluster.drainMs : 0;
    const deadline = setTimeout(() => {
      console.error('port545: shutdown took too long; exiting anyway');
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS + drainMs);
    deadline.unref();
    // The goodbye first, so that browsers forget the server before it stops answering.
    (advertiser?.close() ?? Promise.resolve())
      .then(() => server.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('port545: error while closing:', error);
          process.exit(0);
        },
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'bot': {
      const { runBotCli } = await import('./bot/botCli.js');
      return runBotCli(rest);
    }
    case 'token': {
      const { runTokenCli } = await import('./auth/tokenCli.js');
      return runTokenCli(rest);
    }
    case 'browse': {
      const { runBrowseCli } = await import('./discovery/browseCli.js');
      process.exitCode = await runBrowseCli(rest);
      return;
    }
    case 'doctor': {
      const { runDoctorCli } = await import('./doctor/doctorCli.js');
      process.exitCode = await runDoctorCli(rest);
      return;
    }
    case 'probe': {
      const { runProbeCli } = await import('./probe/probeCli.js');
      process.exitCode = await runProbeCli(rest);
      return;
    }
    case '--version':
    case '-v':
      console.log(VERSION);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(usage);
      return;
    default:
      console.error(`port545: unknown command "${command}"\n\n${usage}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof StartError) {
    console.error(`port545: ${error.message}`);
  } else {
    console.error('port545: fatal error:', error);
  }
  process.exit(1);
});
