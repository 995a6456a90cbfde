import type { StepReport, ValidateOutcome } from './steps';

const TAG: Readonly<Record<StepReport['status'], string>> = { ok: '[ ok ]', warn: '[WARN]', fail: '[FAIL]', note: '[note]' };
const NAME_WIDTH = 10;

/** One step as printed: `[ ok ] healthz    HTTP 200 {"status":"ok"}`, further lines indented. */
export function renderStep(r: StepReport): string {
  const head = `${TAG[r.status]} ${r.step.padEnd(NAME_WIDTH)} ${r.detail}`;
  const pad = ' '.repeat(TAG.ok.length + 1 + NAME_WIDTH + 1);
  return [head, ...(r.lines ?? []).map((l) => `${pad}${l}`)].join('\n');
}

/** The last line: what the exit code says, in words. */
export function renderOutcome(o: ValidateOutcome, warnings: number): string {
  if (o.ok) return `validate: OK${warnings > 0 ? ` with ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`;
  return `validate: FAILED at step "${o.failedStep ?? '?'}": ${o.detail ?? ''}`;
}
