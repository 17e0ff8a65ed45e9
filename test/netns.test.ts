import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNetnsLink, netnsUnavailable } from './helpers/netns.js';

const reason = await netnsUnavailable();
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('the network namespace helper', { skip: reason }, () => {
  it('closes its namespace, its processes and every timer it set', async () => {
    const before = timers();
    const link = await createNetnsLink();
    const child = link.spawn('sleep', ['60']);
    await new Promise((resolve) => child.once('spawn', resolve));
    await link.close();
    assert.notEqual(child.exitCode ?? child.signalCode, null, 'the process in the namespace was ended');
    // The soak counts timers after everyone left: one of the helper's own would read as a leak.
    assert.equal(timers(), before, 'no timer of the helper is left');
  });
});
