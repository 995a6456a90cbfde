import { handleMainArgs } from '@nowconnect/ha-config';
import { bootstrap } from './bootstrap';

handleMainArgs(process.argv.slice(2), 'agent', '0.1.0');
bootstrap().catch((err: unknown) => {
  process.stderr.write(`premise-agent: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
