#!/usr/bin/env node
// Entry point for the `sanproxy` command. The sources are TypeScript; tsx compiles them on
// load so a fresh clone runs with `npm install` alone (no build step, no dist/ to commit).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
