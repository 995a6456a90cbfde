import { handleMainArgs } from '@nowconnect/ha-config';
import { bootstrap } from './bootstrap';

handleMainArgs(process.argv.slice(2), 'hub', '0.1.0');
bootstrap().catch((err: unknown) => {
  process.stderr.write(`cloud-hub: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
