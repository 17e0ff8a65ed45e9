/**
 * Prints the tables of one `npm run bench` run as Markdown, from its JSON files, so the figures in
 * docs/BENCHMARKS.md are the benchmark's own:
 *
 *   node --import tsx bench/markdown.ts bench/results/<stamp>-summary.json
 */
import { existsSync, readFileSync } from 'node:fs';
import type { StepRow } from './lib/report.js';

interface ScenarioFile {
  scenario: string;
  description: string;
  steps: Record<string, StepRow[]>;
  summary: Record<string, unknown>;
}

const summaryPath = process.argv[2];
if (!summaryPath?.endsWith('-summary.json')) {
  console.error('usage: node --import tsx bench/markdown.ts bench/results/<stamp>-summary.json');
  process.exit(2);
}
const prefix = summaryPath.slice(0, -'summary.json'.length);
const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
const m = summary.machine;
console.log(
  `Run ${summary.startedAt} (commit ${summary.commit}${summary.label ? `, "${summary.label}"` : ''}), ` +
    `${summary.minutes} min; ${m.cpus} CPUs ${m.cpuModel}, Node ${m.node}, kernel ${m.kernel}; ` +
    `load average at the start ${m.loadAverage.join(' ')}.\n`,
);

const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '—');
for (const entry of summary.scenarios as { scenario: string }[]) {
  const path = `${prefix}${entry.scenario}.json`;
  if (!existsSync(path)) continue;
  const file = JSON.parse(readFileSync(path, 'utf8')) as ScenarioFile;
  console.log(`**${file.scenario}**: ${file.description}\n`);
  console.log(
    '| system | step | fwd pkt/s | Mbps | server CPU % | CPU ms / 10k pkts | pkts per core-s | RSS MB | RSS/participant MB | loss % | p50 ms | p99 ms | load CPU % | load avg | held |',
  );
  console.log(
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  for (const rows of Object.values(file.steps))
    for (const r of rows)
      console.log(
        `| ${r.system} | ${r.label} | ${r.forwardedPps} | ${fmt(r.mbps, 1)} | ${fmt(r.serverCpuPercent)} | ${fmt(r.cpuMsPer10k)} | ${r.pktsPerCoreSecond} | ${fmt(r.rssMB)} | ${fmt(r.rssPerParticipantMB, 2)} | ${fmt(r.lossPercent, 2)} | ${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ${fmt(r.loadCpuPercent)} | ${fmt(r.loadAverage1m, 1)} | ${r.held ? 'yes' : 'no'} |`,
      );
  console.log(`\n\`${JSON.stringify(file.summary)}\`\n`);
}
for (const j of summary.join ?? [])
  console.log(
    `join (${j.system}): p50 ${j.p50Ms} ms, p95 ${j.p95Ms} ms, ${j.joins} joins, ${j.failures} failed; step medians ${JSON.stringify(j.phasesP50Ms)}`,
  );
for (const r of summary.memory ?? [])
  console.log(
    `memory (${r.system}): ${r.participants} participants, RSS ${r.idleRssMB} → ${r.rssMB} MB, ${r.rssPerParticipantMB} MB per participant`,
  );
