import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameRecorder } from './recorder.js';
import { loadRecording } from './recording.js';

test('recorded frames read back exactly, with their receive times, across rotated files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-rec-'));
  const rec = new FrameRecorder({ dir, prefix: 'kraken_depth', maxFileBytes: 200 });
  const frames = Array.from({ length: 20 }, (_, i) => ({
    text: `{"channel":"book","n":${i},"price":1797.30}`,
    receivedAtUs: 1746523046208075 + i,
  }));
  for (const f of frames) rec.write(f);
  await rec.close();
  assert.ok(rec.files.length > 1, 'rotated');
  await new Promise((r) => setTimeout(r, 50));
  const back = rec.files.flatMap((f) => loadRecording(f));
  assert.deepEqual(back, frames);
});
