import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { tickRecords } from '../../test/support/records.js';
import { encodeBatch } from '../bus/codec.js';
import { PublishJournal } from '../bus/journal.js';
import { journalFilePath, openJournalFile, removeJournalFile, writeJournalFile } from './session-file.js';

const recs = (a: number, b: number) => tickRecords(a, b, { session: 'sess-1' });

test('the journal saved at a stop reads back from <runDir>/sessions; a damaged or missing file reads as none', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'nbpy-session-file-'));
  try {
    const cfg = { runDir };
    mkdirSync(dirname(journalFilePath(cfg, 'oanda_tick')), { recursive: true });
    assert.equal(openJournalFile(cfg, 'oanda_tick'), undefined, 'no file');
    const j = new PublishJournal('sess-1', { maxRecords: 100_000, maxAgeMs: 60_000, maxBytes: 1 << 30, nowMs: () => 0 });
    for (let a = 1; a <= 3000; a += 30) j.appendEncoded(recs(a, a + 29), encodeBatch(recs(a, a + 29)));
    const bytes = writeJournalFile(cfg, 'oanda_tick', j);
    const f = journalFilePath(cfg, 'oanda_tick');
    assert.equal(readFileSync(f).length, bytes);
    assert.equal(existsSync(`${f}.tmp`), false);
    const back = openJournalFile(cfg, 'oanda_tick');
    assert.equal(back?.session, 'sess-1');
    assert.deepEqual(back.range('sess-1', 2990, 3010), { records: recs(2990, 3000), unavailable: [[3001, 3010]] });
    assert.deepEqual(back.range('other', 1, 10), { records: [], unavailable: [[1, 10]] });
    back.close();
    // Damaged: cut short, or with bytes after the last chunk.
    const whole = readFileSync(f);
    writeFileSync(f, whole.subarray(0, whole.length - 10));
    assert.equal(openJournalFile(cfg, 'oanda_tick'), undefined, 'truncated');
    writeFileSync(f, Buffer.concat([whole, Buffer.from('junk')]));
    assert.equal(openJournalFile(cfg, 'oanda_tick'), undefined, 'trailing bytes');
    writeFileSync(`${f}.tmp`, 'half written');
    removeJournalFile(cfg, 'oanda_tick');
    assert.equal(existsSync(f) || existsSync(`${f}.tmp`), false, 'removed, half-written copy too');
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('a saved journal is read a chunk at a time as ranges ask, not whole at open', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'nbpy-session-file-'));
  try {
    const cfg = { runDir };
    mkdirSync(dirname(journalFilePath(cfg, 'kraken_tick')), { recursive: true });
    const j = new PublishJournal('sess-1', { maxRecords: 100_000, maxAgeMs: 60_000, maxBytes: 1 << 30, nowMs: () => 0 });
    for (let a = 1; a <= 3000; a += 100) j.appendEncoded(recs(a, a + 99), encodeBatch(recs(a, a + 99)));
    writeJournalFile(cfg, 'kraken_tick', j);
    const f = journalFilePath(cfg, 'kraken_tick');
    const opened = openJournalFile(cfg, 'kraken_tick')!;
    try {
      // Cut the file after it was opened: what is still on disk reads, what is gone throws (a reader
      // that had loaded the whole file at open would still give it).
      truncateSync(f, Math.floor(statSync(f).size / 2));
      assert.deepEqual(opened.range('sess-1', 1, 150, 2000).records, recs(1, 150));
      assert.throws(() => opened.range('sess-1', 2901, 3000), /ended \d+ bytes short/);
    } finally {
      opened.close();
    }
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
