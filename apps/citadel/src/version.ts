import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** This app's version, from its package.json (the same relative path from src/ and dist/). */
export const APP_VERSION: string = JSON.parse(
  readFileSync(join(__dirname, '..', 'package.json'), 'utf8'),
).version;
