import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The FileDescriptorSet of every generated proto (written by scripts/generate.mjs beside the TypeScript), for
 * gRPC server reflection. The same relative path works from src/ (tests) and dist/ (built code).
 */
export const DESCRIPTOR_SET_PATH = join(__dirname, '..', 'descriptors', 'flotilla.binpb');

export function readDescriptorSet(): Buffer {
  return readFileSync(DESCRIPTOR_SET_PATH);
}
