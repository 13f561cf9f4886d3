// Moves Date.now() (and only Date) for the whole test process: the app and the in-process provider see
// the same shifted clock, so time-based rules (idle timeouts, the forced-refresh interval) are tested
// without sleeping. Timers keep running in real time.
import { jest } from '@jest/globals';

export function shiftClock(to: number): void {
  jest.useFakeTimers({
    doNotFake: [
      'nextTick',
      'setImmediate',
      'setTimeout',
      'setInterval',
      'clearTimeout',
      'clearInterval',
      'queueMicrotask',
      'performance',
      'hrtime',
    ],
  });
  jest.setSystemTime(to);
}

export function restoreClock(): void {
  jest.useRealTimers();
}
