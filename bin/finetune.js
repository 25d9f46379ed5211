#!/usr/bin/env node
// `finetune` from a clone, for development and the tests: runs the TypeScript sources through tsx (always current,
// no build step). The published package's bin is the compiled dist/cli/finetune.js instead. Both run
// src/cli/bin.ts (which may start node once more with a bigger thread pool: src/cli/thread-pool.ts).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/bin.ts');
