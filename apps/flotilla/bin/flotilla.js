#!/usr/bin/env node
// The `flotilla` command: runs the built CLI (npm install builds it; or `npx nx run flotilla:build`).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(main)) {
  process.stderr.write(`flotilla: ${main} is missing; build first with: npx nx run-many -t build\n`);
  process.exit(2);
}
require(main).run(process.argv);
