#!/usr/bin/env node
// The `finetune` executable: load TypeScript sources through tsx, then hand over to the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
