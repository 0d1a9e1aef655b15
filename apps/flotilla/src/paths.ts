import { resolve } from 'node:path';

/** The workspace root: this file sits at apps/flotilla/{src,dist}/paths.*. */
export const WORKSPACE_ROOT = resolve(__dirname, '..', '..', '..');

/** The built entry point of a control-plane app in this workspace. */
export function appEntryPoint(app: string): string {
  return resolve(WORKSPACE_ROOT, 'apps', app, 'dist', 'main.js');
}
