import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { errorCatalog } from '../src/protocol/errors.js';

const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
const messages = readFileSync(new URL('../src/protocol/messages.ts', import.meta.url), 'utf8');

/** docs/protocol.md is what client authors read: every code and reason the server sends must be in it. */
describe('docs/protocol.md', () => {
  it('documents every error code of the catalog', () => {
    const missing = Object.keys(errorCatalog).filter((code) => !doc.includes(`\`${code}\``));
    assert.deepEqual(missing, [], `error codes not in docs/protocol.md: ${missing.join(', ')}`);
  });

  it('documents every participantLeft reason', () => {
    const declared = /export type LeaveReason = ([^;]+);/.exec(messages)?.[1];
    assert.ok(declared, 'LeaveReason is declared in src/protocol/messages.ts');
    const reasons = [...declared.matchAll(/'([a-z]+)'/g)].map((m) => m[1]!);
    assert.ok(reasons.length >= 4, `reasons found: ${reasons.join(', ')}`);
    const section = doc.slice(doc.indexOf('participantLeft'));
    const missing = reasons.filter((r) => !section.includes(`\`${r}\``));
    assert.deepEqual(missing, [], `participantLeft reasons not in docs/protocol.md: ${missing.join(', ')}`);
  });
});
