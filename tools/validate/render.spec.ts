import { renderOutcome, renderStep } from './render';

describe('validate output', () => {
  it('a step line with the delta lines indented under the detail', () => {
    expect(renderStep({ step: 'healthz', status: 'ok', detail: 'HTTP 200 {"status":"ok"}' })).toBe('[ ok ] healthz    HTTP 200 {"status":"ok"}');
    expect(renderStep({ step: 'counters', status: 'ok', detail: 'deltas:', lines: ['a +1', 'b +2'] })).toBe(
      '[ ok ] counters   deltas:\n                  a +1\n                  b +2',
    );
    expect(renderStep({ step: 'readyz', status: 'warn', detail: 'degraded' })).toMatch(/^\[WARN\] readyz/);
  });
  it('the last line names the failing step', () => {
    expect(renderOutcome({ ok: true }, 0)).toBe('validate: OK');
    expect(renderOutcome({ ok: true }, 2)).toBe('validate: OK with 2 warnings');
    expect(renderOutcome({ ok: false, failedStep: 'agent', detail: 'no agent serves connector "addomain"' }, 0)).toBe(
      'validate: FAILED at step "agent": no agent serves connector "addomain"',
    );
  });
});
