/** The web client's pure parts: names, invite links, initials and the grid's arithmetic. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fillGrid, fitGrid } from '../web/src/call/fitGrid.js';
import { initials, isRoomName, parseRoomInput, randomRoomName } from '../web/src/util/names.js';

test('random room names are readable and valid room names', () => {
  const names = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const name = randomRoomName();
    assert.match(name, /^[a-z]+-[a-z]+-\d{3}$/);
    assert.ok(isRoomName(name), name);
    names.add(name);
  }
  assert.ok(names.size > 150, `only ${names.size} distinct names in 200`);
});

test('join input takes a room name or an invite link, nothing else', () => {
  assert.equal(parseRoomInput('  calm-otter-417 '), 'calm-otter-417');
  assert.equal(parseRoomInput('https://calls.example/r/team.sync?name=Ann&join=1'), 'team.sync');
  assert.equal(parseRoomInput('http://127.0.0.1:5450/r/a%2Fb'), undefined);
  assert.equal(parseRoomInput('not a room'), undefined);
  assert.equal(parseRoomInput('-starts-with-dash'), undefined);
  assert.equal(parseRoomInput('x'.repeat(65)), undefined);
  assert.equal(parseRoomInput(''), undefined);
});

test('initials come from letters only, at most two', () => {
  assert.equal(initials('Ada Lovelace'), 'AL');
  assert.equal(initials('grace'), 'G');
  assert.equal(initials('Jean Paul Sartre'), 'JS');
  assert.equal(initials('<img src=x onerror=alert(1)>'), 'IO');
  assert.equal(initials('   '), '?');
  assert.equal(initials('Élodie Ödegaard'), 'ÉÖ');
});

test('the grid picks the column count that gives tiles the most room', () => {
  assert.deepEqual(fitGrid(1, 1280, 720, 0), { columns: 1, tileWidth: 1280, tileHeight: 720 });
  assert.equal(fitGrid(2, 1280, 720).columns, 2);
  assert.equal(fitGrid(4, 1280, 720).columns, 2);
  assert.deepEqual(
    fillGrid(2, 390, 700),
    { columns: 1, tileWidth: 390, tileHeight: 346 },
    'a phone stacks two',
  );
  assert.deepEqual(
    fillGrid(4, 390, 700),
    { columns: 2, tileWidth: 191, tileHeight: 346 },
    'four fill the screen',
  );
  const nine = fitGrid(9, 1280, 720);
  assert.equal(nine.columns, 3);
  assert.ok(nine.tileWidth * 3 + 16 <= 1280 && nine.tileHeight * 3 + 16 <= 720, 'the tiles fit');
});

test('the web client never turns strings into markup', () => {
  const root = new URL('../web/src/', import.meta.url).pathname;
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ts|tsx)$/.test(entry)) files.push(path);
    }
  };
  walk(root);
  assert.ok(files.length > 10, 'found the sources');
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    assert.doesNotMatch(
      source,
      /innerHTML|outerHTML|insertAdjacentHTML|dangerouslySetInnerHTML|document\.write/,
      file,
    );
  }
});
