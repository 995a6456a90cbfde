import { formatDuration, parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['1m30s', 90_000],
    ['45', 45_000],
    [' 3s ', 3000],
    ['0s', 0],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 's', '3x', '-1s', '1d', '3 s', 'ms', '1s2', 'abc'])('"%s" is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('prints short forms', () => {
    expect(formatDuration(750)).toBe('750ms');
    expect(formatDuration(3000)).toBe('3s');
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(150_000)).toBe('2m30s');
    expect(formatDuration(120_000)).toBe('2m');
  });
});
