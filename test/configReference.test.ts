/**
 * docs/CONFIG.md is the config schema in words: every setting is there with its type, default, flag and
 * description, and a change to the schema that is not written down fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { configReference, REFERENCE_PATH } from '../scripts/configReference.js';
import { parseConfig } from '../src/config/config.js';
import { secretSettings, settings } from '../src/config/loadConfig.js';

describe('the configuration reference', () => {
  const { markdown, undocumented } = configReference();

  it('describes every setting of the schema', () => {
    assert.deepEqual(undocumented, [], 'settings without a doc comment in src/config/config.ts');
    for (const s of [...settings, ...secretSettings])
      assert.ok(markdown.includes(`| \`${s.path.join('.')}\` |`), `${s.path.join('.')} (${s.env}) is listed`);
    // The defaults written are the ones the server starts with.
    const defaults = parseConfig({});
    assert.ok(markdown.includes(`| \`rtc.minPort\` | integer 1024–65535 | \`${defaults.rtc.minPort}\` |`));
    assert.ok(
      markdown.includes(
        `| \`limits.wsMaxMessageBytes\` | integer ≥ 1024 | \`${defaults.limits.wsMaxMessageBytes}\` |`,
      ),
    );
  });

  it('is what docs/CONFIG.md holds (run `npm run docs:config` after changing the schema)', () => {
    assert.equal(readFileSync(REFERENCE_PATH, 'utf8'), markdown);
  });
});
