#!/usr/bin/env node
// Entry point for the `sanproxy` command: runs the compiled JavaScript in dist/, which
// `npm install` (the prepare script) or `npm run build` produces from the TypeScript sources.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(entry)) {
  process.stderr.write(`sanproxy: ${entry} is missing: run 'npm install' or 'npm run build' in ${fileURLToPath(new URL('..', import.meta.url))}\n`);
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
