// Preloaded through NODE_OPTIONS=--import by `bench e2e --profile DIR` (Node 20 refuses --cpu-prof in
// NODE_OPTIONS): starts the V8 CPU profiler in this process and writes DIR/CPU.<pid>.cpuprofile on exit.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.NBPY_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  // In-process inspector sessions answer synchronously, so this works inside 'exit'.
  process.once('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
