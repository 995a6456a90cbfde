import { bootstrap } from './bootstrap';

bootstrap().catch((err: unknown) => {
  process.stderr.write(`cloud-hub: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
