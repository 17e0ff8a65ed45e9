import { parseArgs } from 'node:util';
import { Bot } from './Bot.js';

const help = `Usage: port545 bot --url URL --room ROOM [--name NAME] [--no-video] [--no-audio] [--report-every S]
                   [--rtc-host ADDR[,ADDR]] [--token JWT] [--password P]
Joins ROOM on the server at URL (e.g. http://localhost:545), publishes a looped test clip
(VP8 video and Opus audio) and prints what it receives from the others. Ctrl-C leaves.
--rtc-host limits the bot's ICE candidates to these local addresses (e.g. 127.0.0.1).
--token is an access token (port545 token), needed by a server in secured mode (or PORT545_TOKEN).`;

export async function runBotCli(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      room: { type: 'string' },
      name: { type: 'string' },
      'no-video': { type: 'boolean' },
      'no-audio': { type: 'boolean' },
      'report-every': { type: 'string' },
      'rtc-host': { type: 'string' },
      token: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values.url || !values.room) {
    console.log(help);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const bot = await Bot.start({
    url: values.url,
    room: values.room,
    name: values.name ?? 'bot',
    video: !values['no-video'],
    audio: !values['no-audio'],
    hostAddresses: values['rtc-host']?.split(',').map((a) => a.trim()),
    token: values.token ?? process.env.PORT545_TOKEN,
    password: values.password,
  });
  console.log(`bot joined room "${values.room}" as ${bot.room.participantId}; publishing the test clip`);
  bot.room.on('participantJoined', (p) => console.log(`+ ${p.name} joined`));
  bot.room.on('participantLeft', (p) => console.log(`- ${p.name} left`));
  const every = Number(values['report-every'] ?? 5) * 1000;
  const timer = setInterval(() => {
    for (const r of bot.received.values()) {
      const who = bot.room.participants.get(r.participantId)?.name ?? r.participantId;
      const detail = r.kind === 'video' ? `${r.frames} frames` : `${r.packets} packets`;
      console.log(`  from ${who}: ${r.kind} ${detail}, ${(r.bytes / 1024).toFixed(0)} KiB`);
    }
  }, every);
  const stop = () => {
    clearInterval(timer);
    bot.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
