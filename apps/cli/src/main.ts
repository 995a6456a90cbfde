import 'reflect-metadata';
import { runCli } from './cli';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`nowconnect: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
