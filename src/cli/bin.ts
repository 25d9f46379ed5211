#!/usr/bin/env node
import { relaunchWithThreadPool } from './thread-pool.js';
if (!relaunchWithThreadPool()) process.exitCode = await (await import('./main.js')).main(process.argv.slice(2));
