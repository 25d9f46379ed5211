/** Child process for the cross-process lock test: pulls the entry in argv[2] ({ entry, home }) and prints the result. */
import { downloadModel } from '../../src/registry/download.js';
import type { ZooEntry } from '../../src/registry/catalog.js';

const { entry, home } = JSON.parse(process.argv[2] ?? '{}') as { entry: ZooEntry; home: string };
const result = await downloadModel(entry, {
  home, proxy: false, env: {}, lockStaleMs: 60_000,
  onProgress: (event) => {
    if (event.stage === 'info') process.stdout.write('WAITING\n');
  },
});
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
