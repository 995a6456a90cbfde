import { stopAll } from './proc';
import { cleanupTmpDirs } from './tmp';

/** Kill every still-running Proc (by pid) and remove temp dirs; call from afterAll. */
export async function cleanupAll(): Promise<void> {
  await stopAll();
  cleanupTmpDirs();
}
